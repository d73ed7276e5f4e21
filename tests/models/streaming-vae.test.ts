// The skyloom family's streaming VAE (the 2.0 layout: init/step decoder graphs with declared caches, a
// causal encoder with its declared context) on the tiny exported fixture (tests/fixtures/skyloom-stream).

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SkyloomManifest } from '../../models/manifest.js';
import { gaussianNoise } from '../../models/random.js';
import { concat, slice } from '../../models/tensor.js';
import type { Tensor } from '../../models/tensor.js';
import type { VideoChunk } from '../../models/video-model.js';
import { VideoModel } from '../../models/video-model.js';
import { videoToRgb } from '../../models/families/common.js';
import { primingFrame, translateLatent } from '../../models/families/skyloom.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/skyloom-stream/package');

let model: VideoModel;
let latents: Tensor<'float32'>;

async function chunks(m: VideoModel, l: Tensor<'float32'>, chunkFrames: number): Promise<VideoChunk[]> {
  const parts: VideoChunk[] = [];
  for await (const c of m.decode(l, { chunkFrames })) parts.push(c);
  return parts;
}

const bytes = (parts: VideoChunk[]) => Buffer.concat(parts.map((p) => p.data));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** A copy of a fixture (the plain one unless `from` says) with its manifest edited. */
function editedCopy(edit: (m: SkyloomManifest) => void, from = FIXTURE): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'skyloom-stream-')), 'package');
  cpSync(from, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'skyloom.json'), 'utf8')) as SkyloomManifest;
  edit(manifest);
  writeFileSync(join(dir, 'skyloom.json'), JSON.stringify(manifest));
  return dir;
}

/** Seeded RGB frames with smooth content (a moving gradient plus noise), like footage. */
function footage(frames: number, width: number, height: number): { frames: number; width: number; height: number; data: Uint8Array } {
  const noise = gaussianNoise([frames * width * height * 3], 11).data;
  const data = new Uint8Array(frames * width * height * 3);
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) {
          const i = ((f * height + y) * width + x) * 3 + c;
          data[i] = Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin((x + 3 * f) / 9 + c) * Math.cos(y / 7) + 20 * noise[i]!)));
        }
  return { frames, width, height, data };
}

beforeAll(async () => {
  model = await VideoModel.load(FIXTURE, { device: 'cpu' });
  // 7 latent frames (28 frames): more than any chunk size below, and not a multiple of 2, 3 or 4.
  latents = gaussianNoise([1, 8, 7, 8, 8], 5);
}, 60_000);

describe('streaming decode (init + step graphs with caches)', () => {
  it('the fixture is the 2.0 layout: a decoder pair with declared caches, no decoder context', () => {
    expect(model.pkg.has('vae_decoder_init')).toBe(true);
    const caches = model.manifest.components.vae_decoder.caches ?? [];
    expect(caches.length).toBe(8);
    expect(caches[0]).toEqual({ input: 'c0', output: 'nc0', channels: 8, frames: 2, scale: 1 });
    expect(model.manifest.latent.decoderContext).toBeUndefined();
    expect(model.manifest.latent.encoderContext).toEqual([12, 0]);
  });

  it.each([1, 2, 3, 4])('chunk %i equals the whole-clip decode, one chunk of frames yielded per call', async (chunk) => {
    const whole = await chunks(model, latents, 7);
    expect(whole).toHaveLength(1);
    expect(whole[0]).toMatchObject({ startFrame: 0, frames: 28, width: 64, height: 64 });
    const parts = await chunks(model, latents, chunk);
    expect(parts).toHaveLength(Math.ceil(7 / chunk));
    parts.forEach((p, i) => expect(p).toMatchObject({ startFrame: 4 * chunk * i, frames: 4 * Math.min(chunk, 7 - chunk * i) }));
    const diff = maxDiff(bytes(whole), bytes(parts));
    console.log(`chunk ${chunk}: max |byte diff| against the whole-clip decode ${diff}`);
    expect(diff).toBeLessThanOrEqual(1);
  });

  it('the frames are not all alike (a decoder that ignored its input would pass the test above)', async () => {
    const frames = bytes(await chunks(model, latents, 7));
    const frame = 64 * 64 * 3;
    expect(maxDiff(frames.subarray(0, frame), frames.subarray(6 * 4 * frame, (6 * 4 + 1) * frame))).toBeGreaterThan(8);
    const other = bytes(await chunks(model, gaussianNoise([1, 8, 7, 8, 8], 6), 7));
    expect(maxDiff(frames, other)).toBeGreaterThan(8);
  });

  it('without the caches (each chunk through the init graph) the chunk borders show', async () => {
    const whole = bytes(await chunks(model, latents, 7));
    const cold: Uint8Array[] = [];
    for (let s = 0; s < 7; s += 2) {
      const part = { ...latents, dims: [1, 8, Math.min(2, 7 - s), 8, 8], data: sliceFrames(latents, s, Math.min(7, s + 2)) };
      for await (const c of model.decode(part as Tensor<'float32'>, { chunkFrames: 2 })) cold.push(c.data);
    }
    expect(maxDiff(whole, Buffer.concat(cold))).toBeGreaterThan(4);
  });
});

describe('latent.decoderPrime "translate": the first latent frame decoded after a virtual one', () => {
  let primed: VideoModel;
  // A clip whose second latent frame is its first moved one cell right (x + 1), then noise.
  const plane = 8 * 8;
  const moving = gaussianNoise([1, 8, 7, 8, 8], 7);
  for (let c = 0; c < 8; c++) {
    const z = moving.data.subarray(c * 7 * plane, (c + 1) * 7 * plane);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) z[plane + y * 8 + x] = z[y * 8 + Math.max(0, x - 1)]!;
  }
  beforeAll(async () => {
    primed = await VideoModel.load(
      editedCopy((m) => (m.latent.decoderPrime = 'translate')),
      { device: 'cpu' },
    );
  });

  it('the virtual frame is the first moved back by the shift that maps it onto the second', () => {
    const z0 = slice(moving, 2, 0, 1);
    const z1 = slice(moving, 2, 1, 2);
    const virtual = primingFrame(z0, z1).data;
    // One cell left of z0 (x + 1, the right edge repeated), worked out here by index.
    for (let c = 0; c < 8; c++)
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(virtual[c * plane + y * 8 + x]).toBeCloseTo(z0.data[c * plane + y * 8 + Math.min(7, x + 1)]!, 5);
    // A fractional shift is found as well.
    const moved = translateLatent(z0, -0.75, 1.25);
    const back = translateLatent(z0, 0.75, -1.25).data;
    expect(maxDiff(primingFrame(z0, moved).data, back)).toBeLessThan(1e-5);
  });

  it("equals decoding [virtual, z0, z1, …] unprimed and dropping the virtual frame's 4 frames", async () => {
    const withVirtual = new Float32Array(8 * 8 * plane);
    for (let c = 0; c < 8; c++) {
      const z = moving.data.subarray(c * 7 * plane, (c + 1) * 7 * plane);
      const out = withVirtual.subarray(c * 8 * plane, (c + 1) * 8 * plane);
      out.set(z, plane);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) out[y * 8 + x] = z[y * 8 + Math.min(7, x + 1)]!;
    }
    const longer = { ...moving, dims: [1, 8, 8, 8, 8], data: withVirtual } as Tensor<'float32'>;
    const reference = bytes(await chunks(model, longer, 8)).subarray(4 * 64 * 64 * 3);
    const frames = bytes(await chunks(primed, moving, 7));
    expect(frames.length).toBe(28 * 64 * 64 * 3);
    expect(maxDiff(frames, reference)).toBeLessThanOrEqual(1);
    // ... and it changes what the clip starts with (an implementation that ignored the field
    // would pass the comparison above only if priming did nothing).
    expect(maxDiff(frames.subarray(0, 4 * 64 * 64 * 3), bytes(await chunks(model, moving, 7)).subarray(0, 4 * 64 * 64 * 3))).toBeGreaterThan(4);
  });

  it.each([1, 2, 3])('chunk %i equals the primed whole-clip decode', async (chunk) => {
    const whole = bytes(await chunks(primed, moving, 7));
    const parts = await chunks(primed, moving, chunk);
    parts.forEach((p, i) => expect(p).toMatchObject({ startFrame: 4 * chunk * i, frames: 4 * Math.min(chunk, 7 - chunk * i) }));
    expect(maxDiff(whole, bytes(parts))).toBeLessThanOrEqual(1);
  });

  it('a one-latent-frame clip has no motion to follow and decodes as it would unprimed', async () => {
    const one = { ...latents, dims: [1, 8, 1, 8, 8], data: sliceFrames(latents, 0, 1) } as Tensor<'float32'>;
    expect(maxDiff(bytes(await chunks(primed, one, 1)), bytes(await chunks(model, one, 1)))).toBe(0);
  });

  it('is refused on a package without a streaming decoder', async () => {
    const dir = editedCopy((m) => {
      m.latent.decoderPrime = 'translate';
      delete m.components.vae_decoder_init;
      delete m.components.vae_decoder.caches;
    });
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toThrow(
      '/latent/decoderPrime: primes a streaming decoder, and this package has none (components.vae_decoder_init)',
    );
  });

  it('is refused when it names an unknown way to prime', async () => {
    const dir = editedCopy((m) => ((m.latent as { decoderPrime?: unknown }).decoderPrime = 1));
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toThrow('/latent/decoderPrime');
  });
});

describe('a lookahead decoder pair (next_latents): each latent frame decoded beside the one after it', () => {
  const LOOKAHEAD = resolve(import.meta.dirname, '../fixtures/skyloom-stream/package-lookahead');
  // As export.py writes it: a lookahead pair and decoderPrime "translate"; `la` is the same
  // package unprimed.
  let la: VideoModel;
  let laPrimed: VideoModel;
  beforeAll(async () => {
    laPrimed = await VideoModel.load(LOOKAHEAD, { device: 'cpu' });
    la = await VideoModel.load(
      editedCopy((m) => delete m.latent.decoderPrime, LOOKAHEAD),
      { device: 'cpu' },
    );
  });

  /**
   * One call of the init graph on the whole clip (no caches needed), fed `next` as the next latent
   * frames: the reference the runtime's chunked decode must equal. Latents are unscaled as the
   * runtime does before any decoder call.
   */
  async function initCall(z: Tensor<'float32'>, next: Tensor<'float32'>): Promise<Uint8Array> {
    const { scalingFactor, shiftFactor } = la.manifest.latent;
    const raw = (t: Tensor<'float32'>) => ({ ...t, data: t.data.map((v) => v / scalingFactor + shiftFactor) }) as Tensor<'float32'>;
    const init = la.manifest.components.vae_decoder_init!;
    const out = await la.pkg.runNamed('vae_decoder_init', { latent_frame: raw(z), next_latent_frame: raw(next) }, [init.outputs['video']!]);
    return videoToRgb(out[init.outputs['video']!] as Tensor<'float32'>, 0).data;
  }

  /** z's latent frames after each one, the last again at the end: worked out here by index. */
  function shifted(z: Tensor<'float32'>): Tensor<'float32'> {
    const [, channels = 1, frames = 1, h = 1, w = 1] = z.dims;
    const out = new Float32Array(z.data.length);
    for (let c = 0; c < channels; c++)
      for (let t = 0; t < frames; t++)
        out.set(sliceFrames(z, Math.min(t + 1, frames - 1), Math.min(t + 1, frames - 1) + 1).subarray(c * h * w, (c + 1) * h * w), (c * frames + t) * h * w);
    return { ...z, data: out } as Tensor<'float32'>;
  }

  it('the fixture declares next_latents on both graphs of the pair', () => {
    expect(laPrimed.manifest.components.vae_decoder.inputs).toEqual({ latents: 'latent_frame', next_latents: 'next_latent_frame' });
    expect(laPrimed.manifest.components.vae_decoder_init!.inputs).toEqual({ latents: 'latent_frame', next_latents: 'next_latent_frame' });
    expect(laPrimed.manifest.latent.decoderPrime).toBe('translate');
  });

  it.each([1, 2, 3, 4, 7])('chunk %i equals one call on the whole clip beside its next latent frames', async (chunk) => {
    const reference = await initCall(latents, shifted(latents));
    const parts = await chunks(la, latents, chunk);
    parts.forEach((p, i) => expect(p).toMatchObject({ startFrame: 4 * chunk * i, frames: 4 * Math.min(chunk, 7 - chunk * i) }));
    expect(maxDiff(bytes(parts), reference)).toBeLessThanOrEqual(1);
  });

  it('the next latent frames change the frames (fed the latent frames themselves instead, they differ)', async () => {
    const looking = bytes(await chunks(la, latents, 2));
    expect(maxDiff(looking, await initCall(latents, latents))).toBeGreaterThan(8);
  });

  it('primed, the virtual frame looks ahead to the first and the chunks still equal the whole', async () => {
    const virtual = primingFrame(slice(latents, 2, 0, 1), slice(latents, 2, 1, 2));
    const longer = concat([virtual, latents], 2);
    const reference = (await initCall(longer, shifted(longer))).subarray(4 * 64 * 64 * 3);
    for (const chunk of [1, 3, 7]) expect(maxDiff(bytes(await chunks(laPrimed, latents, chunk)), reference), `chunk ${chunk}`).toBeLessThanOrEqual(1);
  });

  it('is refused when only one graph of the pair declares next_latents', async () => {
    const dir = editedCopy((m) => delete m.components.vae_decoder_init!.inputs['next_latents'], LOOKAHEAD);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('/components/vae_decoder_init/inputs: next_latents is declared for one graph of the streaming pair and not the other') as string,
    });
  });

  it('is refused on a whole-clip decoder (no vae_decoder_init)', async () => {
    const dir = editedCopy((m) => {
      delete m.components.vae_decoder_init;
      delete m.components.vae_decoder.caches;
      delete m.latent.decoderPrime;
    }, LOOKAHEAD);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('/components/vae_decoder/inputs/next_latents: only a streaming decoder') as string,
    });
  });

  it('a role this version of Skyloom does not know is refused at load, by name (not with a missing feed at the first run)', async () => {
    const dir = editedCopy((m) => (m.components.vae_decoder.inputs['future_latents'] = 'next_latent_frame'), LOOKAHEAD);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'SIGNATURE_MISMATCH',
      message: expect.stringContaining('skyloom.json maps input role "future_latents", which this version of Skyloom does not know') as string,
    });
  });

  it('a graph that takes next_latent_frame without the role declared is refused by name', async () => {
    const dir = editedCopy((m) => {
      delete m.components.vae_decoder.inputs['next_latents'];
      delete m.components.vae_decoder_init!.inputs['next_latents'];
    }, LOOKAHEAD);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'SIGNATURE_MISMATCH',
      message: expect.stringContaining('has input "next_latent_frame" that no role in skyloom.json feeds') as string,
    });
  });
});

function sliceFrames(t: Tensor<'float32'>, from: number, to: number): Float32Array {
  const [, c = 1, frames = 1, h = 1, w = 1] = t.dims;
  const out = new Float32Array(c * (to - from) * h * w);
  for (let k = 0; k < c; k++) out.set(t.data.subarray((k * frames + from) * h * w, (k * frames + to) * h * w), k * (to - from) * h * w);
  return out;
}

describe('chunked encode with the declared encoder context', () => {
  const clip = footage(28, 64, 64);

  it.each([1, 2, 3])('chunk %i equals the whole-clip encode', async (chunk) => {
    const whole = await model.encode(clip, { chunkFrames: 7 });
    expect(whole.dims).toEqual([1, 8, 7, 8, 8]);
    const chunked = await model.encode(clip, { chunkFrames: chunk });
    expect(chunked.dims).toEqual(whole.dims);
    expect(maxDiff(whole.data, chunked.data)).toBeLessThanOrEqual(1e-4);
  });

  it('without the context the chunks differ from the whole-clip encode', async () => {
    const cold = await VideoModel.load(
      editedCopy((m) => delete m.latent.encoderContext),
      { device: 'cpu' },
    );
    const whole = await cold.encode(clip, { chunkFrames: 7 });
    const chunked = await cold.encode(clip, { chunkFrames: 2 });
    expect(maxDiff(whole.data, chunked.data)).toBeGreaterThan(1e-3);
  });

  it('the round trip runs: encoded footage decodes to frames of its size', async () => {
    const decoded = await chunks(model, await model.encode(clip, { chunkFrames: 2 }), 3);
    expect(decoded.reduce((n, p) => n + p.frames, 0)).toBe(28);
  });
});

describe('loading a streaming package checks its caches', () => {
  it('refuses a decoder pair that declares no caches', async () => {
    const dir = editedCopy((m) => delete m.components.vae_decoder.caches);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('/components/vae_decoder: a streaming decoder (beside vae_decoder_init) must declare its caches') as string,
    });
  });

  it('refuses a cache the step graph does not take', async () => {
    const dir = editedCopy((m) => {
      m.components.vae_decoder.caches![3]!.input = 'c99';
    });
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'SIGNATURE_MISMATCH',
      message: expect.stringMatching(/vae_decoder\/model.onnx has input "c3" that no role/) as string,
    });
  });

  it('refuses a cache declared with the wrong channel count', async () => {
    const dir = editedCopy((m) => {
      m.components.vae_decoder.caches![0]!.channels = 5;
    });
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'SIGNATURE_MISMATCH',
      message: expect.stringContaining('cache input "c0" is [') as string,
    });
  });

  it('refuses two caches of one name', async () => {
    const dir = editedCopy((m) => {
      m.components.vae_decoder.caches![2]!.output = 'nc1';
    });
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('/components/vae_decoder/caches: names "nc1" twice') as string,
    });
  });

  it('refuses caches without the first-chunk graph', async () => {
    const dir = editedCopy((m) => delete m.components.vae_decoder_init);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringContaining('components.vae_decoder_init') as string,
    });
  });
});
