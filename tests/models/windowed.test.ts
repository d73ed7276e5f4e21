// Windowed sampling's context: the default the shipped model gets, and a bad one refused before sampling; windowed re-styling, extension of known latents, and transitions between two (one bridge, and meeting in the middle).

import { beforeAll, describe, expect, it } from 'vitest';
import { ModelInputError } from '../../models/errors.js';
import { VideoModel } from '../../models/video-model.js';
import { concat, slice, zeros, type Tensor } from '../../models/tensor.js';
import { bridgePlan, denoiseBridge, denoiseExtension, denoiseTransition, denoiseWindowed, nativeWindow, planTransition, TRANSITION_HARMONISE } from '../../models/windowed.js';

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

describe('windowed re-styling (initLatents)', () => {
  it("each window starts from its span of the input's latents: denoise 0 returns them, a window's worth equals one call", async () => {
    const cond = await model.encodeText(['a blue circle moving left on a black background']);
    const input = await model.denoise({ shape: model.latentShape(64, 64, 40), cond, guidance: 1, steps: 2, seed: 9 }); // 10 latent frames
    const base = { shape: input.dims, cond, guidance: 1, steps: 3, seed: 4, initLatents: input };
    // Strength 0 is the input's own latents (its VAE round trip once decoded), window by window too.
    const kept = await denoiseWindowed(model, 64, 64, { ...base, denoise: 0 });
    expect(Buffer.from(kept.data.buffer).equals(Buffer.from(input.data.buffer))).toBe(true);
    // The first window is one plain re-styling call over the input's first 4 latent frames.
    const restyled = await denoiseWindowed(model, 64, 64, { ...base, denoise: 0.5 });
    const head = slice(input, 2, 0, 4);
    const one = await model.denoise({ ...base, shape: head.dims, initLatents: head, denoise: 0.5 });
    expect(Buffer.from(slice(restyled, 2, 0, 4).data.buffer).equals(Buffer.from(one.data.buffer))).toBe(true);
    // Later windows start from their own span: another input after the first window changes the
    // frames there and leaves the first window's alone.
    const other = slice(input, 2, 0, 10);
    const plane = 8 * 8;
    for (let c = 0; c < 8; c++) for (let i = (c * 10 + 4) * plane; i < (c + 1) * 10 * plane; i++) other.data[i] = -other.data[i]!;
    const changed = await denoiseWindowed(model, 64, 64, { ...base, initLatents: other, denoise: 0.5 });
    const bytes = (t: Tensor<'float32'>) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    expect(bytes(slice(changed, 2, 0, 4)).equals(bytes(slice(restyled, 2, 0, 4)))).toBe(true);
    expect(bytes(slice(changed, 2, 4, 10)).equals(bytes(slice(restyled, 2, 4, 10)))).toBe(false);
  });

  it('refuses initLatents of another shape before any DiT call', async () => {
    const cond = await model.encodeText(['a red circle moving left on a black background']);
    let steps = 0;
    const run = denoiseWindowed(model, 64, 64, {
      shape: model.latentShape(64, 64, 40),
      initLatents: zeros('float32', [1, 8, 8, 8, 8]),
      denoise: 0.5,
      cond,
      guidance: 1,
      steps: 2,
      seed: 1,
      onStep: () => void steps++,
    });
    await expect(run).rejects.toThrow('initLatents [1, 8, 8, 8, 8] do not match the shape [1, 8, 10, 8, 8]');
    expect(steps).toBe(0);
  });
});

describe('windowed extension of known latents', () => {
  const same = (a: Tensor<'float32'>, b: Tensor<'float32'>) =>
    a.dims.join() === b.dims.join() && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
  let cond: Awaited<ReturnType<VideoModel['encodeText']>>;
  let known: Tensor<'float32'>;
  beforeAll(async () => {
    cond = await model.encodeText(['a green square moving up on a gray background']);
    // Two latent frames of a sampled clip: what extend encodes from the user's context frames.
    known = slice(await model.denoise({ shape: model.latentShape(64, 64, 16), cond, guidance: 1, steps: 2, seed: 3 }), 2, 2, 4);
  });

  /** One window by hand: the known latents at its head (forward) or tail (backward), held by a mask of ones. */
  async function byHand(direction: 'forward' | 'backward', seed: number): Promise<Tensor<'float32'>> {
    const shape = model.latentShape(64, 64, 16);
    const condLatents = zeros('float32', shape);
    const condMask = zeros('float32', [1, 1, 4, 8, 8]);
    const at = direction === 'forward' ? 0 : 2;
    for (let c = 0; c < 8; c++) condLatents.data.set(known.data.subarray(c * 2 * 64, (c + 1) * 2 * 64), (c * 4 + at) * 64);
    condMask.data.fill(1, at * 64, (at + 2) * 64);
    const x = await model.denoise({ shape, cond, guidance: 1, steps: 2, seed, condLatents, condMask });
    return direction === 'forward' ? slice(x, 2, 2, 4) : slice(x, 2, 0, 2);
  }

  it.each(['forward', 'backward'] as const)('%s: the first window is the known latents held at the join, its new latents next to them', async (direction) => {
    const first = await byHand(direction, 7);
    const one = await denoiseExtension(model, 64, 64, known, direction, { shape: model.latentShape(64, 64, 8), cond, guidance: 1, steps: 2, seed: 7 });
    expect(same(one, first)).toBe(true);
    // Three windows (2 + 3 + 3 new latent frames, each later one held to 1): the first window's stay next to the known ones.
    const long = await denoiseExtension(model, 64, 64, known, direction, { shape: model.latentShape(64, 64, 32), cond, guidance: 1, steps: 2, seed: 7 });
    expect(long.dims).toEqual([1, 8, 8, 8, 8]);
    const near = direction === 'forward' ? slice(long, 2, 0, 2) : slice(long, 2, 6, 8);
    expect(same(near, first)).toBe(true);
    // Later windows are sampled, not copies of the first (seed + n).
    const far = direction === 'forward' ? slice(long, 2, 2, 4) : slice(long, 2, 4, 6);
    expect(same(far, first)).toBe(false);
    expect(long.data.every(Number.isFinite)).toBe(true);
  });

  it('refuses known latents that fill the window, or of another size, before any DiT call', async () => {
    let steps = 0;
    const options = { shape: model.latentShape(64, 64, 16), cond, guidance: 1, steps: 2, seed: 1, onStep: () => void steps++ };
    const full = zeros('float32', [1, 8, 4, 8, 8]);
    await expect(denoiseExtension(model, 64, 64, full, 'forward', options)).rejects.toThrow(
      "4 known latent frames leave no room for new ones in the model's 4-latent-frame window",
    );
    const small = zeros('float32', [1, 8, 2, 4, 4]);
    await expect(denoiseExtension(model, 64, 64, small, 'backward', options)).rejects.toThrow(ModelInputError);
    await expect(denoiseExtension(model, 64, 64, small, 'backward', options)).rejects.toThrow('known latents [1, 8, 2, 4, 4] do not match the new latents [1, 8, 4, 8, 8]');
    expect(steps).toBe(0);
  });
});

describe('windowed transitions between known latents (denoiseBridge)', () => {
  const bytes = (t: Tensor<'float32'>) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  let cond: Awaited<ReturnType<VideoModel['encodeText']>>;
  let head: Tensor<'float32'>;
  let tail: Tensor<'float32'>;
  beforeAll(async () => {
    cond = await model.encodeText(['a cyan circle moving right on a dark green background']);
    const clip = await model.denoise({ shape: model.latentShape(64, 64, 16), cond, guidance: 1, steps: 2, seed: 3 });
    head = slice(clip, 2, 3, 4);
    tail = slice(clip, 2, 0, 1);
  });

  it('a transition that fits the window is one call held at both ends', async () => {
    const options = { shape: model.latentShape(64, 64, 8), cond, guidance: 1, steps: 2, seed: 7 };
    const bridged = await denoiseBridge(model, 64, 64, head, tail, options);
    const condLatents = zeros('float32', [1, 8, 4, 8, 8]);
    const condMask = zeros('float32', [1, 1, 4, 8, 8]);
    for (let c = 0; c < 8; c++) {
      condLatents.data.set(head.data.subarray(c * 64, (c + 1) * 64), c * 4 * 64);
      condLatents.data.set(tail.data.subarray(c * 64, (c + 1) * 64), (c * 4 + 3) * 64);
    }
    condMask.data.fill(1, 0, 64);
    condMask.data.fill(1, 3 * 64, 4 * 64);
    const byHand = await model.denoise({ ...options, shape: [1, 8, 4, 8, 8], condLatents, condMask });
    expect(bytes(bridged).equals(bytes(slice(byHand, 2, 1, 3)))).toBe(true);
  });

  it('plans full windows and leaves the closing one the most room to meet the tail', () => {
    // 16 new latent frames in 4-frame windows held to 1: four windows of 3 new, one of 2 held to 2, and the closing one.
    expect(bridgePlan(16, 1, 1, 4, 1)).toEqual([
      { held: 1, take: 3, tail: 0 },
      { held: 1, take: 3, tail: 0 },
      { held: 1, take: 3, tail: 0 },
      { held: 1, take: 3, tail: 0 },
      { held: 2, take: 2, tail: 0 },
      { held: 1, take: 2, tail: 1 },
    ]);
    for (const [frames, first, last] of [
      [5, 1, 1],
      [9, 2, 2],
      [30, 3, 1],
    ]) {
      const plan = bridgePlan(frames!, first!, last!, 4, 1);
      expect(plan.reduce((n, w) => n + w.take, 0)).toBe(frames);
      expect(plan.every((w) => w.take >= 1 && w.held + w.take + w.tail <= 4)).toBe(true);
      expect(plan.at(-1)!.tail).toBe(last);
    }
  });

  it('a long transition is sampled in windows: every latent frame finite, the windows differ', async () => {
    let calls = 0;
    let last = -1;
    const long = await denoiseBridge(model, 64, 64, head, tail, {
      shape: model.latentShape(64, 64, 40),
      cond,
      guidance: 1,
      steps: 2,
      seed: 7,
      onStep: (step, total) => {
        calls++;
        expect(step).toBeGreaterThan(last);
        expect(total).toBe(bridgePlan(10, 1, 1, 4, 1).length * 2);
        last = step;
      },
    });
    expect(long.dims).toEqual([1, 8, 10, 8, 8]);
    expect(long.data.every(Number.isFinite)).toBe(true);
    expect(calls).toBe(bridgePlan(10, 1, 1, 4, 1).length * 2);
    expect(bytes(slice(long, 2, 0, 3)).equals(bytes(slice(long, 2, 3, 6)))).toBe(false);
  });

  it('refuses head or tail latents of another size before any DiT call', async () => {
    let steps = 0;
    const options = { shape: model.latentShape(64, 64, 8), cond, guidance: 1, steps: 2, seed: 1, onStep: () => void steps++ };
    await expect(denoiseBridge(model, 64, 64, head, zeros('float32', [1, 8, 1, 4, 4]), options)).rejects.toThrow(
      'tail latents [1, 8, 1, 4, 4] do not match the new latents [1, 8, 2, 8, 8]',
    );
    expect(steps).toBe(0);
  });
});

describe('transitions that meet in the middle (denoiseTransition)', () => {
  const bytes = (t: Tensor<'float32'>) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  let cond: Awaited<ReturnType<VideoModel['encodeText']>>;
  let head: Tensor<'float32'>;
  let tail: Tensor<'float32'>;
  beforeAll(async () => {
    cond = await model.encodeText(['a red circle moving left on a black background']);
    const clip = await model.denoise({ shape: model.latentShape(64, 64, 16), cond, guidance: 1, steps: 2, seed: 11 });
    head = slice(clip, 2, 3, 4);
    tail = slice(clip, 2, 0, 1);
  });

  it('samples the first half forward from the head, the second backward from the tail, then both as one bridge from them, partly noised', async () => {
    const options = { shape: model.latentShape(64, 64, 8), cond, guidance: 1, steps: 4, seed: 9 };
    const reported: number[] = [];
    const met = await denoiseTransition(model, 64, 64, head, tail, { ...options, onStep: (step, total) => void reported.push(step, total) });
    const half = model.latentShape(64, 64, 4);
    const forward = await denoiseExtension(model, 64, 64, head, 'forward', { ...options, shape: half, seed: 1009 });
    const backward = await denoiseExtension(model, 64, 64, tail, 'backward', { ...options, shape: half, seed: 2009 });
    const byHand = await denoiseBridge(model, 64, 64, head, tail, { ...options, initLatents: concat([forward, backward], 2), denoise: TRANSITION_HARMONISE });
    expect(bytes(met).equals(bytes(byHand))).toBe(true);
    // Not a plain bridge, nor its halves unchanged.
    expect(bytes(met).equals(bytes(await denoiseBridge(model, 64, 64, head, tail, options)))).toBe(false);
    expect(bytes(met).equals(bytes(concat([forward, backward], 2)))).toBe(false);
    // Steps over the three passes: 4 forward, 4 backward, the last 2 of 4 bridging (stepsAt(4, 0.45)); one total.
    const steps = reported.filter((_, i) => i % 2 === 0);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(reported.filter((_, i) => i % 2 === 1))).toEqual(new Set([10]));
  });

  it('a transition of one latent frame is one bridge', async () => {
    const options = { shape: model.latentShape(64, 64, 4), cond, guidance: 1, steps: 2, seed: 9 };
    expect(planTransition(1, 1, 1, 4, 1).forward).toBe(0);
    expect(bytes(await denoiseTransition(model, 64, 64, head, tail, options)).equals(bytes(await denoiseBridge(model, 64, 64, head, tail, options)))).toBe(true);
  });

  it('a long transition goes window by window in every pass', async () => {
    const plan = planTransition(1, 10, 1, 4, 1);
    // 5 latent frames forward from 1 held (3 + 2 in two windows), 5 backward likewise, and the bridge's windows.
    expect(plan).toMatchObject({ forward: 5, firstHeld: 1, tailHeld: 1, forwardWindows: 2, backwardWindows: 2 });
    expect(plan.bridge).toEqual(bridgePlan(10, 1, 1, 4, 1));
    const totals = new Set<number>();
    let calls = 0;
    const long = await denoiseTransition(model, 64, 64, head, tail, {
      shape: model.latentShape(64, 64, 40),
      cond,
      guidance: 1,
      steps: 2,
      seed: 7,
      onStep: (_, total) => {
        calls++;
        totals.add(total);
      },
    });
    expect(long.dims).toEqual([1, 8, 10, 8, 8]);
    expect(long.data.every(Number.isFinite)).toBe(true);
    // The last 1 of 2 steps per bridging window (stepsAt(2, 0.45)).
    expect(calls).toBe(2 * 2 + 2 * 2 + plan.bridge.length);
    expect([...totals]).toEqual([calls]);
  });

  it('a bridge started from init latents at strength 0 returns them; init latents of another shape are refused', async () => {
    const options = { shape: model.latentShape(64, 64, 8), cond, guidance: 1, steps: 2, seed: 1 };
    const init = await denoiseExtension(model, 64, 64, head, 'forward', options);
    expect(bytes(await denoiseBridge(model, 64, 64, head, tail, { ...options, initLatents: init, denoise: 0 })).equals(bytes(init))).toBe(true);
    await expect(denoiseBridge(model, 64, 64, head, tail, { ...options, initLatents: slice(init, 2, 0, 1), denoise: 0.5 })).rejects.toThrow(
      'initLatents [1, 8, 1, 8, 8] do not match the shape [1, 8, 2, 8, 8]',
    );
  });
});
