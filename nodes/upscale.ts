// The upscale family: upscale (pretrained ESRGAN super-resolution, tiled, chunk by chunk over frames) and resize (Lanczos to an exact size).

import { defineNode, NodeInputError } from '../engine/index.js';
import { DEVICES } from '../models/runtime/onnx.js';
import { UPSCALE_MODEL_NAMES, Upscaler, findUpscaleModel } from '../models/upscale/esrgan.js';
import { carryAudio, videoFromChunks } from '../media/frames.js';
import { resizeImage } from '../media/image.js';
import { deviceFor, modelHost } from './services.js';

/** Target sizes offered by `resize`; `custom` uses the width and height params. */
export const RESIZE_PRESETS = ['custom', '1920x1080', '1080x1920', '1280x720', '720x1280', '1080x1080', '3840x2160', '2160x3840'] as const;

export const upscaleNode = defineNode({
  type: 'upscale',
  version: 1,
  aliases: ['esrgan', 'super resolution', 'upscaler', 'hires'],
  category: 'upscale',
  description:
    'Upscales every frame with a pretrained ESRGAN super-resolution model (2x to 8x), in tiles so memory stays bounded at 1080p, a few frames at a time. Follow it with resize for an exact output size.',
  inputs: { video: { type: 'VIDEO' } },
  params: {
    model: {
      kind: 'enum',
      default: 'esrgan-slim-4x',
      choices: UPSCALE_MODEL_NAMES,
      description: 'slim is fast; medium is sharper and about 3x slower. The number is the scale factor.',
    },
    tile: {
      kind: 'int',
      default: 0,
      min: 0,
      max: 1024,
      step: 16,
      description: 'Tile side in input pixels; 0 picks one that keeps each model call near 256 MB. Smaller uses less memory.',
    },
    chunk: { kind: 'int', default: 4, min: 1, max: 256, description: 'Frames read and written per step.' },
    device: { kind: 'enum', default: 'auto', choices: DEVICES, description: 'auto uses CUDA when it is available and falls back to the CPU.' },
  },
  outputs: { video: { type: 'VIDEO' } },
  requires: ({ device }) => (device === 'cuda' ? ['device:cuda'] : []),
  check: async ({ model }, env) => {
    // Workers elsewhere have their own upscale models.
    if (!env.localModels) return [];
    try {
      await findUpscaleModel(model);
      return [];
    } catch (error) {
      return [{ param: 'model', message: (error as Error).message }];
    }
  },
  run: async ({ video, model, tile, chunk, device }, ctx) => {
    const input = video;
    const host = modelHost(ctx);
    const upscaler = await Upscaler.load(model, { device: deviceFor(device, host), sessions: host.sessions, logger: ctx.log });
    const s = upscaler.scale;
    const total = input.frameCount;
    let done = 0;
    async function* frames(): AsyncGenerator<Uint8Array> {
      for await (const part of input.chunks(chunk)) {
        ctx.signal.throwIfAborted();
        yield await upscaler.upscaleFrames(part, input.width, input.height, { tile, signal: ctx.signal });
        done += part.byteLength / input.frameBytes;
        ctx.progress(done, total);
      }
    }
    ctx.log.info(`upscale ${model}: ${input.width}x${input.height} → ${input.width * s}x${input.height * s}, ${total} frames`);
    const out = await videoFromChunks(frames(), { width: input.width * s, height: input.height * s, fps: input.fps }, { dir: ctx.tempDir, signal: ctx.signal });
    return { video: await carryAudio(out, input) };
  },
});

/**
 * The target size of a resize: the preset's, or width x height for `custom`.
 * @throws NodeInputError for a preset outside {@link RESIZE_PRESETS}.
 */
export function resizeTarget(preset: string, width: number, height: number): { width: number; height: number } {
  if (preset === 'custom') return { width, height };
  const match = /^(\d+)x(\d+)$/.exec(preset);
  if (match === null || !(RESIZE_PRESETS as readonly string[]).includes(preset)) {
    throw new NodeInputError(`Unsupported preset "${preset}". Should be one of: ${RESIZE_PRESETS.join(', ')}`);
  }
  return { width: Number(match[1]), height: Number(match[2]) };
}

export const resizeNode = defineNode({
  type: 'resize',
  version: 1,
  aliases: ['scale', 'size'],
  category: 'upscale',
  description: 'Resizes every frame to an exact size with a Lanczos-3 kernel: stretch distorts, crop fills and trims the overflow (centred), pad fits inside with black bars.',
  inputs: { video: { type: 'VIDEO' } },
  params: {
    preset: { kind: 'enum', default: '1920x1080', choices: RESIZE_PRESETS, description: 'Target size; custom uses width and height.' },
    width: { kind: 'int', default: 1920, min: 1, max: 8192, usedWhen: { param: 'preset', equals: 'custom' }, description: 'Target width when preset is custom.' },
    height: { kind: 'int', default: 1080, min: 1, max: 8192, usedWhen: { param: 'preset', equals: 'custom' }, description: 'Target height when preset is custom.' },
    fit: { kind: 'enum', default: 'crop', choices: ['stretch', 'crop', 'pad'], description: 'How another aspect ratio is met.' },
  },
  outputs: { video: { type: 'VIDEO' } },
  run: async ({ video, preset, width, height, fit }, ctx) => {
    const input = video;
    const target = resizeTarget(preset, width, height);
    const total = input.frameCount;
    let done = 0;
    async function* frames(): AsyncGenerator<Uint8Array> {
      for await (const part of input.chunks()) {
        for (let at = 0; at < part.byteLength; at += input.frameBytes) {
          ctx.signal.throwIfAborted();
          const frame = { width: input.width, height: input.height, data: part.subarray(at, at + input.frameBytes) };
          yield (await resizeImage(frame, target.width, target.height, fit)).data;
        }
        done += part.byteLength / input.frameBytes;
        ctx.progress(done, total);
      }
    }
    const out = await videoFromChunks(frames(), { ...target, fps: input.fps }, { dir: ctx.tempDir, signal: ctx.signal });
    return { video: await carryAudio(out, input) };
  },
});

export const upscaleNodes = [upscaleNode, resizeNode];
