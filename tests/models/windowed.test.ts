// Windowed sampling's context: the default the shipped model gets, and a bad one refused before sampling.

import { beforeAll, describe, expect, it } from 'vitest';
import { ModelInputError } from '../../models/errors.js';
import { VideoModel } from '../../models/video-model.js';
import { denoiseWindowed, nativeWindow } from '../../models/windowed.js';

let model: VideoModel;
beforeAll(async () => {
  model = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
}, 60_000);

describe('windowed sampling', () => {
  it('skyloom-tiny samples 4-latent-frame windows, each later one held to the last latent frame made (measured best, EVAL.md)', () => {
    expect(nativeWindow(model, 64, 64)).toEqual({ window: 4, context: 1 });
  });

  it.each([0, 4, 1.5])('refuses a context of %s latent frames, naming the range, before any DiT call', async (context) => {
    const cond = await model.encodeText(['a red circle moving left on a black background']);
    let steps = 0;
    const run = denoiseWindowed(model, 64, 64, { shape: model.latentShape(64, 64, 48), cond, guidance: 1, steps: 2, seed: 1, context, onStep: () => void steps++ });
    await expect(run).rejects.toThrow(ModelInputError);
    await expect(run).rejects.toThrow(`windowed sampling's context must be 1 to 3 latent frames (the window is 4) but is ${context}`);
    expect(steps).toBe(0);
  });

  it('a context of 2 gives other frames than the default 1 from the same seed, and the same first window', async () => {
    const cond = await model.encodeText(['a red circle moving left on a black background']);
    const options = { shape: model.latentShape(64, 64, 32), cond, guidance: 1, steps: 3, seed: 5 };
    const one = await denoiseWindowed(model, 64, 64, options);
    const two = await denoiseWindowed(model, 64, 64, { ...options, context: 2 });
    const plane = one.data.length / 8 / 8; // per channel and latent frame: [1, 8, 8, 8, 8]
    const firstWindowEqual = Array.from({ length: 8 }, (_, c) => one.data.subarray(c * 8 * plane, (c * 8 + 4) * plane).every((v, i) => v === two.data[c * 8 * plane + i]));
    expect(firstWindowEqual.every(Boolean)).toBe(true);
    expect(Buffer.from(one.data.buffer).equals(Buffer.from(two.data.buffer))).toBe(false);
  });
});
