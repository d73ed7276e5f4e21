// The sampling family: dit-sampler, which turns noise into latents guided by the prompt.

import { defineNode, NodeInputError } from '../engine/index.js';
import { SAMPLERS, type VideoModel } from '../models/video-model.js';
import { denoiseWindowed, needsWindows } from '../models/windowed.js';
import type { Tensor } from '../models/tensor.js';
import type { ConditioningValue, LatentValue } from './values.js';

/** Sampling settings shared by every node that generates frames (here and in the time family). */
export const samplingParams = {
  seed: { kind: 'seed', default: 0 },
  steps: { kind: 'int', default: 20, min: 1, max: 200 },
  guidance: { kind: 'float', default: 4, min: 1, max: 30, step: 0.5, description: 'Classifier-free guidance; 1 turns it off.' },
  sampler: { kind: 'enum', default: 'euler', choices: SAMPLERS },
} as const;

/** The unconditional side of guidance: the negative prompt, or the model family's default one (empty for most); none without guidance. */
export async function unconditional(model: VideoModel, negative: ConditioningValue | undefined, guidance: number): Promise<ConditioningValue | undefined> {
  if (negative) return negative;
  if (guidance === 1) return undefined;
  const prompt = model.defaultNegativePrompt;
  return { ...(await model.encodeText([prompt])), prompt };
}

export const ditSamplerNode = defineNode({
  type: 'dit-sampler',
  version: 1,
  displayName: 'DiT Sampler',
  aliases: ['ksampler', 'sampler', 'denoise', 'diffusion'],
  category: 'sampling',
  description:
    'Samples latents with the diffusion transformer: flow matching with classifier-free guidance. ' +
    'With a latent that already holds samples and denoise below 1 it re-styles them (video to video): ' +
    "denoise 0 returns the input's VAE round trip (encode then decode), and the higher it is, the more changes. " +
    "The model's VAE bounds how faithfully outside footage comes back: even at denoise 0 you get what its VAE makes of the input, " +
    'which for footage unlike its training data (the default model saw only shapes on plain backgrounds) shifts colours and loses detail. ' +
    "A latent longer than the model's native window is sampled window by window, each held to the last latent frames of the one before; re-styling, each window starts from its own span of the input's latents.",
  inputs: {
    model: { type: 'MODEL' },
    positive: { type: 'CONDITIONING' },
    negative: { type: 'CONDITIONING', optional: true, description: "Default: the model's default negative prompt (empty for most; Wan's own for Wan)." },
    latent: { type: 'LATENT' },
  },
  params: {
    ...samplingParams,
    shift: { kind: 'float', default: 0, min: 0, max: 20, step: 0.1, description: "Timestep shift; 0 takes the model's own." },
    denoise: {
      kind: 'float',
      default: 1,
      min: 0,
      max: 1,
      step: 0.01,
      description: "Strength: below 1 keeps part of the input latent; 0 returns it unchanged (the input's VAE round trip).",
    },
  },
  outputs: { latent: { type: 'LATENT' } },
  run: async ({ model, positive, negative, latent, seed, steps, guidance, sampler, shift, denoise }, ctx) => {
    const m = model.model;
    const input = latent;
    const uncond = await unconditional(m, negative, guidance);
    const strength = denoise;
    if (strength < 1 && !input.samples) {
      throw new NodeInputError(`denoise ${strength} re-styles an input video, but the latent is empty; use vae-encode, or set denoise to 1`);
    }
    const onStep = (step: number, total: number, x0: Tensor<'float32'>) => {
      const p = m.preview(x0);
      // A preview shows latent frames (of one window when sampling window by window): one per k frames.
      ctx.progress(step, total, { format: 'rgb24', width: p.width, height: p.height, frameCount: p.frames, fps: (input.fps * p.frames) / m.frameCount(p.frames), data: p.data });
    };
    const common = {
      shape: input.shape,
      cond: positive,
      ...(uncond ? { uncond } : {}),
      guidance,
      steps,
      sampler,
      ...(shift > 0 ? { shift } : {}),
      seed,
      signal: ctx.signal,
      onStep,
    };
    const init = input.samples && strength < 1 ? { initLatents: input.samples, denoise: strength } : {};
    // Longer than the model's window: window by window (models/windowed.ts), never one long DiT
    // call, from noise or (video-to-video) from the input's latents.
    const samples =
      !input.known && needsWindows(m, input.shape, input.width, input.height)
        ? await denoiseWindowed(m, input.width, input.height, { ...common, ...init })
        : await m.denoise({ ...common, ...init, ...(input.known ? { condLatents: input.known.latents, condMask: input.known.mask } : {}) });
    const out: LatentValue = { ...input, samples };
    return { latent: out };
  },
});

export const samplingNodes = [ditSamplerNode];
