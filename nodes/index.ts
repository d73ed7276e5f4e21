// The built-in node families, and a registry holding them.

import { NodeRegistry, type NodeDefinition } from '../engine/index.js';
import { withEstimate } from './estimates.js';
import { latentNodes } from './latent.js';
import { modelNodes } from './model.js';
import { primitiveNodes } from './primitives.js';
import { samplingNodes } from './sampling.js';
import { textNodes } from './text.js';
import { timeNodes } from './time.js';
import { upscaleNodes } from './upscale.js';
import { vaeNodes } from './vae.js';
import { videoIoNodes } from './video-io.js';

// Each with its family's cost estimate for admission control (estimates.ts).
export const builtinNodes: NodeDefinition[] = [
  ...primitiveNodes,
  ...modelNodes,
  ...textNodes,
  ...latentNodes,
  ...samplingNodes,
  ...vaeNodes,
  ...timeNodes,
  ...upscaleNodes,
  ...videoIoNodes,
].map(withEstimate);

/** A registry with every built-in node. */
export function createRegistry(): NodeRegistry {
  return new NodeRegistry(builtinNodes);
}
