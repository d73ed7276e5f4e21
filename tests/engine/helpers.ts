// Small builders for workflows in engine tests.

import { NodeRegistry, type Link, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { primitiveNodes } from '../../nodes/primitives.js';
import { nodes as testNodes, runLog } from '../fixtures/test-pack.js';

export { runLog };

export function registry(): NodeRegistry {
  return new NodeRegistry([...primitiveNodes, ...testNodes]);
}

export const link = (node: string, output: string): Link => ({ node, output });

export function workflow(...nodes: WorkflowNode[]): Workflow {
  return { format: 'skyloom-workflow', version: 3, nodes };
}
