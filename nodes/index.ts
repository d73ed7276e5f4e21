// The built-in node families, and a registry holding them.

import { NodeRegistry, type NodeDefinition } from '../engine/index.js';
import { primitiveNodes } from './primitives.js';

export const builtinNodes: NodeDefinition[] = [...primitiveNodes];

/** A registry with every built-in node. */
export function createRegistry(): NodeRegistry {
  return new NodeRegistry(builtinNodes);
}
