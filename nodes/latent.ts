// The latent family: empty-latent, the size, length and frame rate of a clip on the model's grid.

import { defineNode, NodeInputError } from '../engine/index.js';
import type { LatentValue } from './values.js';

export const ASPECTS = ['1:1', '16:9', '9:16', 'custom'] as const;

/**
 * The frame count nearest `wanted` that a model makes: first, first + step, first + 2 step, …
 * (admission estimates the same).
 */
export function nearestFrameCount(wanted: number, first: number, step: number): number {
  return Math.max(first, first + Math.round((wanted - first) / step) * step);
}

export const emptyLatentNode = defineNode({
  type: 'empty-latent',
  version: 1,
  aliases: ['empty latent image', 'size', 'resolution', 'aspect'],
  category: 'latent',
  description:
    "The size and length of a clip to generate. An aspect preset takes the model's native size for it; " + '"custom" takes width and height, which must fit the model\'s grid.',
  inputs: { model: { type: 'MODEL' } },
  params: {
    aspect: { kind: 'enum', default: '1:1', choices: ASPECTS },
    width: { kind: 'int', default: 64, min: 16, max: 4096, step: 16, usedWhen: { param: 'aspect', equals: 'custom' }, description: 'Used when aspect is "custom".' },
    height: { kind: 'int', default: 64, min: 16, max: 4096, step: 16, usedWhen: { param: 'aspect', equals: 'custom' }, description: 'Used when aspect is "custom".' },
    seconds: { kind: 'float', default: 2, min: 0.1, max: 120, step: 0.5 },
    frames: { kind: 'int', default: 0, min: 0, max: 7200, description: 'Exact frame count; 0 takes seconds × fps.' },
    fps: { kind: 'int', default: 8, min: 1, max: 60 },
  },
  outputs: { latent: { type: 'LATENT' } },
  run: ({ model, aspect, width, height, seconds, frames, fps }, ctx) => {
    const m = model.model;
    let w = width;
    let h = height;
    if (aspect !== 'custom') {
      const native = m.manifest.sizes?.[aspect];
      if (!native) {
        const presets = Object.keys(m.manifest.sizes ?? {});
        throw new NodeInputError(`Model ${m.manifest.name} has no native size for aspect ${aspect}; its presets are: ${presets.join(', ') || 'none'} (or use "custom")`);
      }
      [w, h] = native;
    }
    let count = frames;
    if (count === 0) {
      // Seconds are rounded to the nearest length the model can make (a multiple of its time step).
      const step = m.frameCount(2) - m.frameCount(1);
      const first = m.frameCount(1);
      const wanted = Math.round(seconds * fps);
      count = nearestFrameCount(wanted, first, step);
      if (count !== wanted) ctx.log.info(`${seconds} s at ${fps} fps is ${wanted} frames; using ${count}, the nearest the model makes`);
    }
    const shape = m.latentShape(w, h, count);
    const latent: LatentValue = { shape, width: w, height: h, frames: count, fps };
    return { latent };
  },
});

export const latentNodes = [emptyLatentNode];
