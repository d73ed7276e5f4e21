// The VAE family: vae-decode (latents → frames, chunk by chunk) and vae-encode (frames → latents).

import { defineNode, NodeInputError } from '../engine/index.js';
import { carryAudio, videoFromChunks } from '../media/frames.js';
import type { LatentValue } from './values.js';

/**
 * Latent frames per VAE call by default: with a whole-clip VAE's [6, 6] context, 8 decodes and
 * encodes a 60 s clip in a third of chunk 2's time at the same peak memory (bench/decode-chunk.ts,
 * bench/encode-chunk.ts).
 */
export const VAE_CHUNK_FRAMES = 8;

/** The `chunk` param of vae-decode and vae-encode: latent frames per VAE call. */
const chunkParam = (description: string) => ({ kind: 'int', default: VAE_CHUNK_FRAMES, min: 1, max: 64, description }) as const;

export const vaeDecodeNode = defineNode({
  type: 'vae-decode',
  version: 1,
  displayName: 'VAE Decode',
  aliases: ['decode latent', 'latent to video'],
  category: 'vae',
  description: 'Decodes latents to video frames, a few latent frames at a time, so memory stays flat however long the clip.',
  inputs: { model: { type: 'MODEL' }, latent: { type: 'LATENT' } },
  params: {
    chunk: chunkParam(
      "Latent frames per decoder call. A whole-clip decoder also decodes its context around each chunk (6 latent frames each side for skyloom-tiny 1.x) and drops it, so small chunks repeat work; memory grows with chunk + context, not with the clip's length.",
    ),
  },
  outputs: { video: { type: 'VIDEO' } },
  run: async ({ model, latent, chunk }, ctx) => {
    const m = model.model;
    const input = latent;
    const samples = input.samples;
    if (!samples) throw new NodeInputError('The latent is empty: connect it through a dit-sampler (or vae-encode) before decoding');
    // Progress counts video frames: a family may decode other than `chunk` latent frames per call
    // (Wan's streaming decoder takes one at a time).
    const total = input.frames;
    const frames = async function* () {
      for await (const part of m.decode(samples, { chunkFrames: chunk })) {
        ctx.progress(Math.min(total, part.startFrame + part.frames), total);
        yield part.data;
      }
    };
    const video = await videoFromChunks(frames(), { width: input.width, height: input.height, fps: input.fps }, { dir: ctx.tempDir, signal: ctx.signal });
    return { video: await carryAudio(video, input) };
  },
});

export const vaeEncodeNode = defineNode({
  type: 'vae-encode',
  version: 1,
  displayName: 'VAE Encode',
  aliases: ['encode video', 'video to latent'],
  category: 'vae',
  description: "Encodes video frames to latents (the video's size and length must fit the model's grid).",
  inputs: { model: { type: 'MODEL' }, video: { type: 'VIDEO' } },
  params: {
    chunk: chunkParam(
      "Latent frames per encoder call. A whole-clip encoder also reads its context's pixels around each chunk (6 latent frames each side for skyloom-tiny 1.x) and drops what they make, so small chunks repeat work; the result is the whole-clip encode at any chunk.",
    ),
  },
  outputs: { latent: { type: 'LATENT' } },
  run: async ({ model, video, chunk }) => {
    const m = model.model;
    const v = video;
    const data = await v.read(0, v.frameCount);
    const samples = await m.encode({ frames: v.frameCount, width: v.width, height: v.height, data }, { chunkFrames: chunk });
    const latent: LatentValue = { shape: [...samples.dims], width: v.width, height: v.height, frames: v.frameCount, fps: v.fps, samples, ...(v.audio ? { audio: v.audio } : {}) };
    return { latent };
  },
});

export const vaeNodes = [vaeDecodeNode, vaeEncodeNode];
