import { describe, it, expect, beforeAll, vi } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VideoModel } from '../../models/video-model.js';
import type { RgbFrames, VideoChunk } from '../../models/video-model.js';
import { SessionCache } from '../../models/session-cache.js';
import { ModelInputError } from '../../models/errors.js';
import { randn } from '../../models/random.js';
import { float32, slice, tensor, zeros } from '../../models/tensor.js';
import type { Tensor } from '../../models/tensor.js';
import { FlowMatchUniPCScheduler } from '../../models/schedulers/flow-match-unipc.js';
import { TINY, writeSdExport, writeSkyloomPackage } from './fixtures/tiny-packages.js';

let model: VideoModel;
let causal: VideoModel;
let sd: VideoModel;

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'skyloom-vm-'));
  await writeSkyloomPackage(join(root, 'tiny'), { name: 'tiny' });
  await writeSkyloomPackage(join(root, 'causal'), { name: 'causal', causal: true });
  await writeSdExport(join(root, 'sd-tiny'));
  const sessions = new SessionCache({ budgetBytes: 1e9 });
  model = await VideoModel.load(join(root, 'tiny'), { device: 'cpu', sessions });
  causal = await VideoModel.load(join(root, 'causal'), { device: 'cpu', sessions });
  sd = await VideoModel.load(join(root, 'sd-tiny'), { device: 'cpu', sessions });
});

async function collect(chunks: AsyncGenerator<VideoChunk>): Promise<VideoChunk[]> {
  const out: VideoChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

function joined(chunks: VideoChunk[]): Uint8Array {
  return Uint8Array.from(chunks.flatMap((c) => Array.from(c.data)));
}

describe('VideoModel (skyloom package)', () => {
  it('validates sizes against the latent grid', () => {
    expect(model.latentShape(16, 16, 8)).toEqual([1, 4, 2, 2, 2]);
    expect(model.latentShape(32, 16, 4)).toEqual([1, 4, 1, 2, 4]);
    expect(() => model.latentShape(100, 64, 8)).toThrow('width and height must be multiples of 16 but are 100 and 64');
    expect(() => model.latentShape(16, 16, 15)).toThrow('frames must be a multiple of 4 but is 15');
    expect(() => model.latentShape(16, 16, 0)).toThrow(ModelInputError);
    expect(model.frameCount(3)).toBe(12);
  });

  it('encodes prompts through the text encoder; an empty prompt is all-zero mask', async () => {
    const { hidden, mask } = await model.encodeText(['red circle', '']);
    expect(hidden.dims).toEqual([2, TINY.maxLength, TINY.textDim]);
    expect(Array.from(mask.data, Number)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // The fixture's encoder is an embedding table (randn seed 11), zeroed where the mask is 0.
    const table = randn(11, 16 * TINY.textDim);
    expect(Array.from(hidden.data.slice(0, TINY.textDim))).toEqual(Array.from(table.slice(5 * TINY.textDim, 6 * TINY.textDim)));
    expect(hidden.data.slice(2 * TINY.textDim, TINY.maxLength * TINY.textDim).every((v) => v === 0)).toBe(true);
    expect(hidden.data.slice(TINY.maxLength * TINY.textDim).every((v) => v === 0)).toBe(true);
  });

  it('one Euler step with guidance equals the hand-mixed DiT output on cond and uncond', async () => {
    const cond = await model.encodeText(['blue square moves left']);
    const uncond = await model.encodeText(['']);
    const dims = model.latentShape(16, 16, 8);
    const result = await model.denoise({ shape: dims, cond, uncond, guidance: 3, steps: 1, seed: 9 });
    const noise = tensor('float32', dims, randn(9, 32));
    const run = async (text: typeof cond) =>
      (
        await model.pkg.run('transformer', {
          latents: noise,
          timestep: float32([1], [1000]),
          text: text.hidden,
          text_mask: text.mask,
          cond_latents: zeros('float32', dims),
          cond_mask: zeros('float32', [1, 1, 2, 2, 2]),
        })
      )['velocity'] as Tensor<'float32'>;
    const vc = await run(cond);
    const vu = await run(uncond);
    // One step from σ = 1 to 0: x = noise − v, v = vu + 3·(vc − vu).
    const expected = noise.data.map((n, i) => n - (vu.data[i]! + 3 * (vc.data[i]! - vu.data[i]!)));
    expect(result.dims).toEqual(dims);
    Array.from(result.data).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('is reproducible per seed and reports every step', async () => {
    const cond = await model.encodeText(['a red circle']);
    const uncond = await model.encodeText(['']);
    const shape = model.latentShape(16, 16, 8);
    const steps: [number, number, readonly number[]][] = [];
    const a = await model.denoise({ shape, cond, uncond, steps: 3, seed: 123, onStep: (s, t, x0) => void steps.push([s, t, x0.dims]) });
    const b = await model.denoise({ shape, cond, uncond, steps: 3, seed: 123 });
    const c = await model.denoise({ shape, cond, uncond, steps: 3, seed: 124 });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    expect(steps).toEqual([
      [1, 3, shape],
      [2, 3, shape],
      [3, 3, shape],
    ]);
    const heun = await model.denoise({ shape, cond, uncond, steps: 3, seed: 123, sampler: 'heun' });
    expect(Array.from(heun.data)).not.toEqual(Array.from(a.data));
    await expect(model.denoise({ shape, cond, uncond, seed: 1, sampler: 'dpm' as 'euler' })).rejects.toThrow('Unsupported sampler "dpm". Should be one of: euler, heun, unipc');
  });

  it('samples with UniPC: the same latents as the scheduler driven by hand over the DiT, decoded to a clip', async () => {
    const cond = await model.encodeText(['a yellow ball bounces']);
    const dims = model.latentShape(16, 16, 8);
    const result = await model.denoise({ shape: dims, cond, guidance: 1, steps: 4, seed: 77, sampler: 'unipc' });
    const sch = new FlowMatchUniPCScheduler({ shift: model.manifest.scheduler.shift });
    const schedule = sch.setTimesteps(4);
    const state = sch.createState();
    const fed: number[] = [];
    let x = randn(77, 32);
    for (let i = 0; i < 4; i++) {
      const step = await sch.step(
        async (sample, _sigma, t) => {
          fed.push(t);
          const out = await model.pkg.run('transformer', {
            latents: tensor('float32', dims, sample),
            timestep: float32([1], [t]),
            text: cond.hidden,
            text_mask: cond.mask,
            cond_latents: zeros('float32', dims),
            cond_mask: zeros('float32', [1, 1, 2, 2, 2]),
          });
          return (out['velocity'] as Tensor<'float32'>).data;
        },
        x,
        schedule,
        i,
        state,
      );
      x = step.prevSample;
    }
    // Wan's timesteps are whole numbers (int64 in the reference), unlike Euler's σ·1000.
    expect(fed.every((t) => Number.isInteger(t))).toBe(true);
    expect(fed[0]).toBe(999);
    expect(Array.from(result.data)).toEqual(Array.from(x));
    const euler = await model.denoise({ shape: dims, cond, guidance: 1, steps: 4, seed: 77 });
    expect(Array.from(result.data)).not.toEqual(Array.from(euler.data));
    const frames = await collect(model.decode(result));
    expect(frames.map((c) => [c.startFrame, c.frames, c.width, c.height])).toEqual([[0, 8, 16, 16]]);
    expect(frames[0]!.data.length).toBe(8 * 16 * 16 * 3);
    expect(new Set(frames[0]!.data).size).toBeGreaterThan(1);
  });

  it('needs an uncond for guidance ≠ 1 and runs without one at guidance 1', async () => {
    const cond = await model.encodeText(['green']);
    const shape = model.latentShape(16, 16, 4);
    await expect(model.denoise({ shape, cond, guidance: 4, seed: 1 })).rejects.toThrow('guidance 4 needs an unconditional text (uncond)');
    expect((await model.denoise({ shape, cond, guidance: 1, steps: 2, seed: 1 })).dims).toEqual(shape);
    await expect(model.denoise({ shape: [1, 3, 1, 2, 2], cond, guidance: 1, seed: 1 })).rejects.toThrow('latents must have shape [B, 4, T, h, w] but have [1, 3, 1, 2, 2]');
  });

  it('keeps known frames exactly and feeds them to the DiT', async () => {
    const cond = await model.encodeText(['a blue square']);
    const shape = model.latentShape(16, 16, 8); // T = 2
    const condLatents = tensor('float32', shape, randn(77, 32));
    const condMask = float32([1, 1, 2, 2, 2], [1, 1, 1, 1, 0, 0, 0, 0]); // frame 0 known
    const firstX0: Tensor<'float32'>[] = [];
    const keep = (s: number, _t: number, x0: Tensor<'float32'>) => void (s === 1 && firstX0.push(x0));
    const x = await model.denoise({ shape, cond, guidance: 1, steps: 2, seed: 5, condLatents, condMask, onStep: keep });
    const free = await model.denoise({ shape, cond, guidance: 1, steps: 2, seed: 5, onStep: keep });
    expect(Array.from(slice(x, 2, 0, 1).data)).toEqual(Array.from(slice(condLatents, 2, 0, 1).data));
    // The DiT saw the known frame: its first estimate of frame 0 differs from the unconditioned run's ...
    expect(Array.from(slice(firstX0[0]!, 2, 0, 1).data)).not.toEqual(Array.from(slice(firstX0[1]!, 2, 0, 1).data));
    // ... while frame 1 (unknown; the fixture DiT is per-position) is sampled as without conditioning.
    expect(Array.from(slice(x, 2, 1, 2).data)).toEqual(Array.from(slice(free, 2, 1, 2).data));
  });

  it("feeds the known frames noised to each step's sigma, as training did, with the run's own noise", async () => {
    const cond = await model.encodeText(['a blue square']);
    const shape = model.latentShape(16, 16, 8); // [1, 4, 2, 2, 2]: frame 0 is values 0-3 of each 8 per channel
    const condLatents = tensor('float32', shape, randn(77, 32));
    const condMask = float32([1, 1, 2, 2, 2], [1, 1, 1, 1, 0, 0, 0, 0]);
    const noise = randn(5, 32);
    const fed: { sigma: number; latents: Float32Array }[] = [];
    const run = model.pkg.run.bind(model.pkg);
    const spy = vi.spyOn(model.pkg, 'run').mockImplementation(async (component, feeds) => {
      if (component === 'transformer') fed.push({ sigma: (feeds['timestep']!.data[0] as number) / 1000, latents: Float32Array.from(feeds['latents']!.data as Float32Array) });
      return run(component, feeds);
    });
    try {
      await model.denoise({ shape, cond, guidance: 1, steps: 4, seed: 5, condLatents, condMask });
    } finally {
      spy.mockRestore();
    }
    // diffusers' flow-match timesteps: linspace(1000, 1, 4), sigma = timestep / 1000.
    expect(fed.map((f) => f.sigma)).toEqual([1, 0.667, 0.334, 0.001]);
    for (const { sigma, latents } of fed) {
      for (let c = 0; c < 4; c++) {
        for (let p = 0; p < 4; p++) {
          const i = c * 8 + p;
          expect(latents[i], `sigma ${sigma}, channel ${c}`).toBeCloseTo((1 - sigma) * condLatents.data[i]! + sigma * noise[i]!, 5);
        }
      }
    }
    // The unknown frame starts from the same noise and then follows the sampler.
    expect(Array.from(fed[0]!.latents.slice(4, 8))).toEqual(Array.from(noise.slice(4, 8)));
    expect(Array.from(fed[2]!.latents.slice(4, 8))).not.toEqual(Array.from(noise.slice(4, 8)));
  });

  it('starts part-way from init latents for denoise < 1', async () => {
    const cond = await model.encodeText(['red']);
    const initLatents = tensor('float32', model.latentShape(16, 16, 4), randn(3, 16));
    const totals: number[] = [];
    const x = await model.denoise({ initLatents, cond, guidance: 1, steps: 4, denoise: 0.5, seed: 2, onStep: (_s, t) => void totals.push(t) });
    expect(totals).toEqual([2, 2]);
    expect(x.dims).toEqual(initLatents.dims);
    await expect(model.denoise({ shape: initLatents.dims, cond, guidance: 1, denoise: 0.5, seed: 2 })).rejects.toThrow('denoise 0.5 needs initLatents to start from');
  });

  it('stops between steps when the signal aborts, throwing its reason', async () => {
    const cond = await model.encodeText(['red']);
    const controller = new AbortController();
    const reason = new Error('stop now');
    let calls = 0;
    const run = model.denoise({
      shape: model.latentShape(16, 16, 4),
      cond,
      guidance: 1,
      steps: 5,
      seed: 1,
      signal: controller.signal,
      onStep: () => {
        calls++;
        controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(calls).toBe(1);
  });

  it('decodes chunk by chunk to the same frames as in one call', async () => {
    const latents = tensor('float32', model.latentShape(16, 16, 12), randn(8, 48)); // T = 3
    const whole = await collect(model.decode(latents, { chunkFrames: 3 }));
    const parts = await collect(model.decode(latents, { chunkFrames: 2 }));
    expect(whole).toHaveLength(1);
    expect(parts.map((c) => [c.startFrame, c.frames, c.width, c.height])).toEqual([
      [0, 8, 16, 16],
      [8, 4, 16, 16],
    ]);
    expect(joined(parts)).toEqual(joined(whole));
    expect(whole[0]!.data.length).toBe(12 * 16 * 16 * 3);
    // Nearest upsampling: every pixel of an 8×8 block and its 4 frames share one latent's colour.
    const px = (f: number, y: number, x: number) => Array.from(whole[0]!.data.slice(((f * 16 + y) * 16 + x) * 3, ((f * 16 + y) * 16 + x) * 3 + 3));
    expect(px(3, 7, 7)).toEqual(px(0, 0, 0));
    expect(px(0, 0, 8)).not.toEqual(px(0, 0, 0));
  });

  it('decodes a causal VAE in chunks to 1 + k·(T − 1) frames, equal to one call', async () => {
    expect(causal.latentShape(16, 16, 9)).toEqual([1, 4, 3, 2, 2]);
    expect(() => causal.latentShape(16, 16, 8)).toThrow('frames must be 1 more than a multiple of 4 but is 8');
    const latents = tensor('float32', [1, 4, 3, 2, 2], randn(8, 48));
    const whole = await collect(causal.decode(latents, { chunkFrames: 3 }));
    const parts = await collect(causal.decode(latents, { chunkFrames: 1 }));
    expect(whole.map((c) => [c.startFrame, c.frames])).toEqual([[0, 9]]);
    expect(parts.map((c) => [c.startFrame, c.frames])).toEqual([
      [0, 1],
      [1, 4],
      [5, 4],
    ]);
    expect(joined(parts)).toEqual(joined(whole));
  });

  it('encodes video to normalised latents, chunked the same as in one call', async () => {
    const frames = 8;
    const grey: RgbFrames = { frames, width: 16, height: 16, data: new Uint8Array(frames * 16 * 16 * 3).fill(255) };
    const a = await model.encode(grey, { chunkFrames: 1 });
    const b = await model.encode(grey, { chunkFrames: 4 });
    expect(a.dims).toEqual([1, 4, 2, 2, 2]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    // White is +1 on every channel; the encoder's 1×1 conv (randn seed 15 · 0.5) sums its row,
    // then normalisation applies (raw − 0.1) · 2.
    const w = randn(15, 12).map((v) => v * 0.5);
    for (let c = 0; c < 4; c++) {
      const raw = w[c * 3]! + w[c * 3 + 1]! + w[c * 3 + 2]!;
      expect(a.data[c * 8]).toBeCloseTo((raw - 0.1) * 2, 5);
    }
    await expect(model.encode({ ...grey, frames: 7, data: grey.data.slice(0, 7 * 768) })).rejects.toThrow('frames must be a multiple of 4 but is 7');
  });

  it('previews every latent frame with the manifest colour factors', () => {
    const latents = tensor('float32', [1, 4, 2, 2, 2], randn(4, 32));
    const p = model.preview(latents);
    expect([p.frames, p.width, p.height, p.data.length]).toEqual([2, 2, 2, 24]);
    // pixel 5 (frame 1, y 0, x 1): green = 0.1 + 0.5·ch1 + 0.1·ch3
    const ch = (c: number) => latents.data[c * 8 + 5]!;
    const g = 0.1 + 0.5 * ch(1) + 0.1 * ch(3);
    expect(p.data[5 * 3 + 1]).toBe(Math.min(255, Math.max(0, Math.round((g + 1) * 127.5))));
    expect(() => model.preview(zeros('float32', [1, 3, 1, 1, 1]))).toThrow('latents must have shape [B, 4, T, h, w]');
  });
});

describe('VideoModel (Stable Diffusion export as a one-frame model)', () => {
  it('allows one frame on the 64-pixel grid', () => {
    expect(sd.latentShape(64, 128, 1)).toEqual([1, 4, 1, 16, 8]);
    expect(() => sd.latentShape(64, 64, 4)).toThrow('frames must be 1 for the one-frame model sd-tiny but is 4');
    expect(() => sd.latentShape(72, 64, 1)).toThrow('width and height must be multiples of 64 but are 72 and 64');
  });

  it('encodes int32 ids, samples with euler-discrete and CFG, decodes one frame', async () => {
    const cond = await sd.encodeText(['a red circle']);
    const uncond = await sd.encodeText(['']);
    expect(cond.hidden.dims).toEqual([1, 8, TINY.textDim]);
    expect(Array.from(cond.mask.data, Number)).toEqual([1, 1, 1, 1, 1, 0, 0, 0]); // [CLS] a red circle [SEP]
    const shape = sd.latentShape(64, 64, 1);
    const seen: number[] = [];
    const a = await sd.denoise({ shape, cond, uncond, guidance: 7.5, steps: 3, seed: 11, onStep: (s) => void seen.push(s) });
    const b = await sd.denoise({ shape, cond, uncond, guidance: 7.5, steps: 3, seed: 11 });
    expect(seen).toEqual([1, 2, 3]);
    expect(a.dims).toEqual([1, 4, 1, 8, 8]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(a.data.every(Number.isFinite)).toBe(true);
    const frames = await collect(sd.decode(a));
    expect(frames.map((f) => [f.startFrame, f.frames, f.width, f.height])).toEqual([[0, 1, 64, 64]]);
  });

  it('encodes an image with the mean half of latent_parameters, scaled by 0.18215', async () => {
    const white: RgbFrames = { frames: 1, width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(255) };
    const latents = await sd.encode(white);
    expect(latents.dims).toEqual([1, 4, 1, 8, 8]);
    const w = randn(25, 24).map((v) => v * 0.5); // fixture encoder conv [8, 3, 1, 1]
    expect(latents.data[0]).toBeCloseTo((w[0]! + w[1]! + w[2]!) * 0.18215, 5);
    expect(latents.data[3 * 64]).toBeCloseTo((w[9]! + w[10]! + w[11]!) * 0.18215, 5);
  });

  it('rejects known frames and flow samplers, which a UNet cannot take', async () => {
    const cond = await sd.encodeText(['red']);
    const shape = sd.latentShape(64, 64, 1);
    await expect(sd.denoise({ shape, cond, guidance: 1, seed: 1, condLatents: zeros('float32', shape), condMask: zeros('float32', [1, 1, 1, 8, 8]) })).rejects.toThrow(
      'model sd-tiny cannot take known frames (no cond_latents input)',
    );
    await expect(sd.denoise({ shape, cond, guidance: 1, seed: 1, sampler: 'heun' })).rejects.toThrow(
      'sampler "heun" is not available for sd-tiny: Stable Diffusion packages sample with euler',
    );
  });
});
