import { describe, it, expect, beforeAll, vi } from 'vitest';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VideoModel } from '../../models/video-model.js';
import { addModelFolder, listModels } from '../../models/package.js';
import { SessionCache } from '../../models/session-cache.js';
import { createSession, releaseSession } from '../../models/runtime/onnx.js';
import { ModelInputError, ModelLoadError } from '../../models/errors.js';
import { WAN_DEFAULT_NEGATIVE_PROMPT, tokenizeUmt5 } from '../../models/families/wan.js';
import { float16ToFloat32, float32ToFloat16, tensor } from '../../models/tensor.js';
import type { Tensor } from '../../models/tensor.js';
import type { TextConditioning, VideoChunk } from '../../models/video-model.js';

const FIXTURES = join(__dirname, '..', 'fixtures', 'wan');
const BUNDLE = join(FIXTURES, 'bundle');

interface Reference {
  prompt: string;
  negative: string;
  seed: number;
  width: number;
  height: number;
  frames: number;
  steps: number;
  shift: number;
  guidance: number;
  promptIds: number[];
  longPrompt: string;
  longPromptIds: number[];
  timesteps: number[];
  latentDims: number[];
  latents: number[];
  frameCount: number;
  frameBytesSample: number[];
}

let ref: Reference;
let model: VideoModel;
let cond: TextConditioning;
let uncond: TextConditioning;
let latents: Tensor<'float32'>;

async function collect(gen: AsyncGenerator<VideoChunk>): Promise<VideoChunk[]> {
  const out: VideoChunk[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

function bytesOf(chunks: VideoChunk[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.data.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c.data, at);
    at += c.data.length;
  }
  return all;
}

async function copyBundle(): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), 'skyloom-wan-')), 'wan21');
  await cp(BUNDLE, dir, { recursive: true });
  return dir;
}

function sample(opts: Partial<Parameters<VideoModel['denoise']>[0]> = {}) {
  return model.denoise({
    shape: model.latentShape(ref.width, ref.height, ref.frames),
    cond,
    uncond,
    guidance: ref.guidance,
    steps: ref.steps,
    shift: ref.shift,
    seed: ref.seed,
    sampler: 'euler',
    ...opts,
  });
}

beforeAll(async () => {
  ref = JSON.parse(await readFile(join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
  model = await VideoModel.load(BUNDLE, { device: 'cpu' });
  cond = await model.encodeText([ref.prompt]);
  uncond = await model.encodeText([ref.negative]);
  latents = await sample();
});

describe('wan family on the wannx layout', () => {
  it('recognises the folder as downloaded and names its family and capabilities', async () => {
    const root = await mkdtemp(join(tmpdir(), 'skyloom-wan-list-'));
    await cp(BUNDLE, join(root, 'wan21-onnx'), { recursive: true });
    const listed = await listModels({ searchPaths: [root] });
    expect(listed).toEqual([expect.objectContaining({ name: 'wan21-onnx', kind: 'wannx', family: 'wan' })]);
    expect(model.family.name).toBe('wan');
    expect(model.capabilities()).toEqual(['t2v']);
    expect(model.manifest.defaults).toEqual({ width: 832, height: 480, frames: 81, fps: 16, steps: 50, guidance: 5 });
    expect(model.pkg.inputInfo('transformer', 'latents')?.shape).toEqual([1, 16, 'frames', '2*lat_h_half', '2*lat_w_half']);
    expect(model.defaultNegativePrompt).toBe(WAN_DEFAULT_NEGATIVE_PROMPT);
    expect(model.unsupportedWords('a cat zzqx')).toEqual([]);
    await rm(root, { recursive: true });
  });

  it('tokenizes like Python tokenizers: </s> closes the prompt, 600-token prompts keep </s> at 511, pad 0', async () => {
    const short = await tokenizeUmt5(model.pkg, ref.prompt);
    expect(short.length).toBe(ref.promptIds.length);
    expect(Array.from(short.ids.data.slice(0, short.length), Number)).toEqual(ref.promptIds);
    expect(short.ids.dims).toEqual([1, 512]);
    expect(Number(short.ids.data[short.length])).toBe(0);
    expect(Array.from(short.mask.data, Number).reduce((a, b) => a + b)).toBe(short.length);
    const long = await tokenizeUmt5(model.pkg, ref.longPrompt);
    expect(long.length).toBe(512);
    expect(Array.from(long.ids.data, Number)).toEqual(ref.longPromptIds);
    expect(Number(long.ids.data[511])).toBe(1);
  });

  it('zeroes the text states past the prompt, as the reference does', () => {
    const n = ref.promptIds.length;
    const rows = cond.hidden.data;
    const rowNorm = (r: number) => rows.subarray(r * 4096, (r + 1) * 4096).reduce((a, v) => a + Math.abs(v), 0);
    expect(cond.hidden.dims).toEqual([1, 512, 4096]);
    for (let r = 0; r < n; r++) expect(rowNorm(r)).toBeGreaterThan(1);
    for (const r of [n, n + 1, 300, 511]) expect(rowNorm(r)).toBe(0);
  });

  it('samples the same latents as the numpy reference (tests/fixtures/wan/reference.py) to 1e-4', () => {
    expect(latents.dims).toEqual(ref.latentDims);
    let worst = 0;
    latents.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref.latents[i]))));
    expect(worst).toBeLessThan(1e-4);
  });

  it('runs the batch-1 DiT twice per step with int(σ·1000) timesteps', async () => {
    const spy = vi.spyOn(model.pkg, 'run');
    await sample();
    const calls = spy.mock.calls.filter(([component]) => component === 'transformer');
    spy.mockRestore();
    expect(calls).toHaveLength(2 * ref.steps);
    const timesteps = calls.map(([, feeds]) => (feeds['timestep'] as Tensor<'float32'>).data[0]);
    expect(timesteps).toEqual(ref.timesteps.flatMap((t) => [t, t]));
    for (const [, feeds] of calls) expect(feeds['latents']?.dims[0]).toBe(1);
    expect(calls[0]?.[1]['text']).toBe(cond.hidden);
    expect(calls[1]?.[1]['text']).toBe(uncond.hidden);
  });

  it('the same seed gives the same latents; the negative prompt and the mask change them', async () => {
    expect(Array.from((await sample()).data)).toEqual(Array.from(latents.data));
    const other = await sample({ uncond: await model.encodeText(['a red ball']) });
    expect(maxDiff(other.data, latents.data)).toBeGreaterThan(1e-2);
    // A dropped mask: T5 over all 512 positions, padding rows kept.
    const { ids } = await tokenizeUmt5(model.pkg, ref.prompt);
    const ones = tensor('int64', [1, 512], new BigInt64Array(512).fill(1n));
    const unmasked = (await model.pkg.run('text_encoder', { input_ids: ids, attention_mask: ones }))['hidden_states'] as Tensor<'float32'>;
    const dropped = await sample({ cond: { hidden: unmasked, mask: ones } });
    expect(maxDiff(dropped.data, latents.data)).toBeGreaterThan(1e-2);
  });

  it('decodes by streaming: 1 + 4·(T − 1) frames, chunk by chunk, clamped, equal to the reference', async () => {
    const chunks = await collect(model.decode(latents));
    expect(chunks.map((c) => [c.startFrame, c.frames, c.width, c.height])).toEqual([
      [0, 1, 48, 32],
      [1, 4, 48, 32],
      [5, 4, 48, 32],
    ]);
    const all = bytesOf(chunks);
    expect(all.length).toBe(ref.frameCount * 48 * 32 * 3);
    const sampled = Array.from({ length: ref.frameBytesSample.length }, (_, i) => all[i * 97]);
    const off = sampled.filter((b, i) => Math.abs(b - ref.frameBytesSample[i]!) > 1);
    expect(off).toEqual([]);
    // The decoder overshoots [-1, 1]; clamping makes some bytes 0 or 255, never wrap around.
    expect(all.some((b) => b === 0 || b === 255)).toBe(true);
  });

  it('matches caches by their number: a swapped pair or caches in the wrong order change the frames', async () => {
    const right = bytesOf(await collect(model.decode(latents)));
    const run = model.pkg.runNamed.bind(model.pkg);
    const spy = vi.spyOn(model.pkg, 'runNamed').mockImplementation(async (component, feeds, outputs) => {
      if (component !== 'vae_decoder') return run(component, feeds, outputs);
      return run(component, { ...feeds, c1: feeds['c2']!, c2: feeds['c1']! }, outputs);
    });
    const swapped = bytesOf(await collect(model.decode(latents)));
    spy.mockRestore();
    expect(countDiff(swapped, right)).toBeGreaterThan(100);
  });

  it('teaches its size and frame rules before any sampling', () => {
    expect(() => model.latentShape(832, 480, 80)).toThrow(new ModelInputError('Wan needs 4k+1 frames (1, 5, …, 77, 81); 80 is not (try 77 or 81)'));
    expect(() => model.latentShape(850, 480, 81)).toThrow(new ModelInputError('Wan needs width to be a multiple of 16; 850 is not (try 848 or 864)'));
    expect(() => model.latentShape(832, 470, 81)).toThrow(/height to be a multiple of 16; 470 is not/);
    expect(model.latentShape(832, 480, 81)).toEqual([1, 16, 21, 60, 104]);
    const cost = model.estimateCost({ width: 832, height: 480, frames: 81, steps: 50, guidance: true });
    expect(cost).toMatchObject({ latentTokens: 32760, denoiserCalls: 100, tokenSteps: 3276000, pixels: 81 * 832 * 480 });
    expect(cost.peakStageBytes).toBeGreaterThan(500_000);
  });

  it('says that extend and video-to-video need a VAE encoder the bundle lacks', async () => {
    await expect(model.encode({ frames: 5, width: 48, height: 32, data: new Uint8Array(5 * 48 * 32 * 3) })).rejects.toThrow(
      /has no VAE encoder: extend, image-to-video and video-to-video need one, and the wannx bundle ships none/,
    );
  });
});

describe('wan family errors at load', () => {
  it('names a missing file of the bundle', async () => {
    const dir = await copyBundle();
    await rm(join(dir, 'vae_decoder_init.onnx'));
    const error = await VideoModel.load(dir, { device: 'cpu' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error).toMatchObject({ code: 'FILE_MISSING', path: join(dir, 'vae_decoder_init.onnx') });
    expect((error as Error).message).toBe(`${join(dir, 'vae_decoder_init.onnx')} is missing: a Wan2.1 wannx folder needs it (see docs/models.md)`);
  });

  it.each([
    ['dit.onnx', 'operator NhwcConv (com.microsoft)'],
    ['vae_decoder.onnx', 'operator GroupNorm (com.microsoft)'],
  ])('rejects %s with a GPU-only operator on the CPU, naming file and operator', async (file, op) => {
    const dir = await copyBundle();
    await cp(join(FIXTURES, 'gpu-only', file), join(dir, file));
    const error = await VideoModel.load(dir, { device: 'cpu' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('UNSUPPORTED_OP');
    expect((error as Error).message).toBe(
      `${join(dir, file)} uses ${op}, which ONNX Runtime's CPU provider does not implement; this graph needs a GPU (device "cuda"), or an export without GPU-only fusions`,
    );
  });

  it('rejects a skyloom.json of the wrong family or an unknown one, naming the file', async () => {
    const dir = await copyBundle();
    const manifest = await addModelFolder(dir);
    manifest.family = 'skyloom';
    await writeFile(join(dir, 'skyloom.json'), JSON.stringify(manifest));
    // The skyloom family maps different roles (text_mask) onto the Wan DiT.
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toThrow(`dit.onnx: skyloom.json maps no input for role "text_mask"`);
    manifest.family = 'wan9';
    await writeFile(join(dir, 'skyloom.json'), JSON.stringify(manifest));
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toThrow(
      `${join(dir, 'skyloom.json')}: unknown model family "wan9". Should be one of: skyloom, stable-diffusion, wan`,
    );
  });
});

describe('wan family memory by stage', () => {
  it('loads and releases text encoder, DiT and VAE in order; nothing is opened at load', async () => {
    const events: string[] = [];
    const name = (p: string) => p.split('/').pop()!;
    const sessions = new SessionCache({
      budgetBytes: 1e12,
      open: async (path, options) => {
        events.push(`open ${name(path)}${options.memoryPattern === false ? ' (no mem pattern)' : ''}`);
        return createSession(path, options);
      },
      close: async (s) => {
        events.push(`close ${name(s.path)}`);
        await releaseSession(s);
      },
    });
    const m = await VideoModel.load(BUNDLE, { device: 'cpu', sessions });
    expect(events).toEqual([]);
    const c = await m.encodeText(['a cat']);
    const u = await m.encodeText(['']);
    const lat = await m.denoise({ shape: m.latentShape(48, 32, 5), cond: c, uncond: u, steps: 1, seed: 3 });
    await collect(m.decode(lat));
    expect(events).toEqual([
      'open t5_encoder_fp16.onnx (no mem pattern)',
      'close t5_encoder_fp16.onnx',
      'open dit.onnx (no mem pattern)',
      'close dit.onnx',
      'open vae_decoder_init.onnx (no mem pattern)',
      'open vae_decoder.onnx (no mem pattern)',
    ]);
  });
});

describe('wan family fp16 I/O', () => {
  it('converts float32 ↔ float16 bits exactly for representable values and rounds to nearest even', () => {
    const values = Float32Array.of(0, -0, 1, -2, 0.5, 65504, 1e-8, 6.103515625e-5, 5.960464477539063e-8, 1.0009765625, 1.00048828125, 70000, -Infinity);
    const bits = float32ToFloat16(values);
    expect(Array.from(bits)).toEqual([0, 0x8000, 0x3c00, 0xc000, 0x3800, 0x7bff, 0, 0x0400, 0x0001, 0x3c01, 0x3c00, 0x7c00, 0xfc00]);
    expect(Array.from(float16ToFloat32(bits))).toEqual([0, -0, 1, -2, 0.5, 65504, 0, 6.103515625e-5, 5.960464477539063e-8, 1.0009765625, 1, Infinity, -Infinity]);
  });

  it('runs a bundle whose graphs take and return float16 (dit_fp16.onnx)', async () => {
    const m = await VideoModel.load(join(FIXTURES, 'bundle-fp16'), { device: 'cpu' });
    expect(m.manifest.components.transformer.file).toBe('dit_fp16.onnx');
    expect(m.pkg.inputInfo('transformer', 'latents')?.type).toBe('float16');
    expect(m.pkg.io('text_encoder')?.outputs[0]?.type).toBe('float16');
    const c = await m.encodeText(['a cat']);
    expect(c.hidden.type).toBe('float32');
    const lat = await m.denoise({ shape: m.latentShape(48, 32, 5), cond: c, guidance: 1, steps: 2, seed: 3 });
    expect(lat.type).toBe('float32');
    expect(lat.data.every(Number.isFinite)).toBe(true);
    const again = await m.denoise({ shape: m.latentShape(48, 32, 5), cond: c, guidance: 1, steps: 2, seed: 3 });
    expect(Array.from(again.data)).toEqual(Array.from(lat.data));
    const frames = bytesOf(await collect(m.decode(lat)));
    expect(frames.length).toBe(5 * 48 * 32 * 3);
  });
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function countDiff(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('skyloom models add', () => {
  it('hashes every file with progress, writes skyloom.json, and the load path then verifies it', async () => {
    const dir = await copyBundle();
    const seen: { file: string; done: number; total: number }[] = [];
    const manifest = await addModelFolder(dir, { name: 'wan2.1-t2v-14b', onProgress: (p) => seen.push(p) });
    expect(manifest.family).toBe('wan');
    expect(manifest.name).toBe('wan2.1-t2v-14b');
    expect(Object.keys(manifest.files)).toEqual([
      'dit.onnx',
      'google/umt5-xxl/tokenizer.json',
      't5_encoder_fp16.onnx',
      't5_encoder_fp16.onnx.data',
      'vae_decoder.meta.json',
      'vae_decoder.onnx',
      'vae_decoder_init.onnx',
    ]);
    const { sha256File } = await import('../../models/package.js');
    expect(manifest.files['dit.onnx']).toBe(await sha256File(join(BUNDLE, 'dit.onnx')));
    const total = seen[0]!.total;
    expect(seen.at(-1)!.done).toBe(total);
    expect(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done)).toBe(true);
    const written = JSON.parse(await readFile(join(dir, 'skyloom.json'), 'utf8')) as { family: string };
    expect(written.family).toBe('wan');
    const loaded = await VideoModel.load(dir, { device: 'cpu' });
    expect(loaded.pkg.kind).toBe('skyloom');
    expect(loaded.family.name).toBe('wan');
    // A corrupt weight file is caught by the hash before anything runs.
    const data = await readFile(join(dir, 't5_encoder_fp16.onnx.data'));
    data[100] ^= 1;
    await writeFile(join(dir, 't5_encoder_fp16.onnx.data'), data);
    await expect(VideoModel.load(dir, { device: 'cpu' })).rejects.toThrow(/t5_encoder_fp16\.onnx\.data is corrupt: sha256 is [0-9a-f]{64} but skyloom\.json expects/);
    await expect(addModelFolder(dir)).rejects.toThrow(`${join(dir, 'skyloom.json')} already exists`);
  });
});

describe('wan family with a vae_encoder graph', () => {
  it('encodes video (input_video → latent), and then re-styles it and keeps known frames', async () => {
    const dir = await copyBundle();
    await cp(join(FIXTURES, 'with-encoder', 'vae_encoder.onnx'), join(dir, 'vae_encoder.onnx'));
    const m = await VideoModel.load(dir, { device: 'cpu' });
    expect(m.capabilities()).toEqual(['t2v', 'i2v', 'extend', 'v2v']);
    const video = (seed: number) => {
      const data = new Uint8Array(9 * 48 * 32 * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * seed * 31 + (i >> 7)) % 256;
      return { frames: 9, width: 48, height: 32, data };
    };
    const a = await m.encode(video(3));
    const b = await m.encode(video(5));
    expect(a.dims).toEqual([1, 16, 3, 4, 6]);
    expect(maxDiff(a.data, b.data)).toBeGreaterThan(1e-3);
    await expect(m.encode({ ...video(3), frames: 8, data: video(3).data.subarray(0, 8 * 48 * 32 * 3) })).rejects.toThrow('Wan needs 4k+1 frames');
    const c = await m.encodeText(['a cat']);
    const u = await m.encodeText(['']);
    const base = { shape: a.dims, cond: c, uncond: u, steps: 3, seed: 9, sampler: 'unipc' as const };
    const restyled = await m.denoise({ ...base, initLatents: a, denoise: 0.5 });
    const fresh = await m.denoise(base);
    expect(maxDiff(restyled.data, fresh.data)).toBeGreaterThan(1e-2);
    // Extend: latent frame 0 known (mask 1) comes back exactly; the others are sampled.
    const mask = tensor(
      'float32',
      [1, 1, 3, 4, 6],
      Float32Array.from({ length: 72 }, (_, i) => (i < 24 ? 1 : 0)),
    );
    const extended = await m.denoise({ ...base, condLatents: a, condMask: mask });
    const plane = 3 * 4 * 6;
    for (let ch = 0; ch < 16; ch++) {
      for (let p = 0; p < 24; p++) expect(extended.data[ch * plane + p]).toBeCloseTo(a.data[ch * plane + p]!, 6);
    }
    expect(maxDiff(extended.data.subarray(24, 72), a.data.subarray(24, 72))).toBeGreaterThan(1e-2);
  });
});
