// The wan family: Wan2.1 text-to-video from the wannx ONNX export — umT5 text, batch-1 DiT called twice for CFG, streaming VAE with 33 caches, by stage.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelInputError, ModelLoadError } from '../errors.js';
import type { ComponentName } from '../manifest.js';
import type { ModelPackage } from '../package.js';
import { exists } from '../package/files.js';
import { checkCpuOps, scanOnnx } from '../package/onnx-scan.js';
import { checkSignature } from '../package/signature.js';
import type { GraphIo, RoleSpec, Signature } from '../package/signature.js';
import { availableDevices } from '../runtime/onnx.js';
import { UMT5_TEXT_LENGTH, Umt5Tokenizer } from '../tokenizers/umt5.js';
import { size, slice, tensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import type { DenoiseOptions, TextConditioning, VideoChunk } from '../video-model.js';
import { checkDims, checkLatents, costOf, frameCountOf, guide, guideTwo, rgbToVideo, sampleFlow, videoToRgb } from './common.js';
import type { Capability, LoadContext, ModelFamily } from './family.js';
import { flowSampler } from './skyloom.js';

/**
 * Wan's own default negative prompt (the Wan2.1 repository; wannx uses it when guidance > 1 and
 * no negative is given). Skyloom follows wannx, whose bundle this family runs; diffusers'
 * WanPipeline uses "" instead — give an empty negative prompt node to get that behaviour.
 */
export const WAN_DEFAULT_NEGATIVE_PROMPT =
  '色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走';

/** umT5's text length: the DiT is fed [1, 512, 4096] and does not pad. */
export const WAN_TEXT_LENGTH = UMT5_TEXT_LENGTH;

// Element types a wannx graph may report: `--fp16` keeps float32 I/O, `--native-fp16` makes it float16.
const float = (rank: number): RoleSpec => ({ types: ['float32', 'float16'], rank });
const SIGNATURES: Partial<Record<ComponentName, Signature>> = {
  text_encoder: {
    inputs: { input_ids: { types: ['int64'], rank: 2 }, attention_mask: { types: ['int64'], rank: 2 } },
    outputs: { hidden_states: float(3) },
  },
  transformer: { inputs: { latents: float(5), timestep: float(1), text: float(3) }, outputs: { velocity: float(5) } },
  vae_decoder: { inputs: { latents: float(5) }, outputs: { video: float(5) } },
  vae_decoder_init: { inputs: { latents: float(5) }, outputs: { video: float(5) } },
  vae_encoder: { inputs: { video: float(5) }, outputs: { latents: float(5) } },
};

/** The components each stage needs; the others are released before a stage starts. */
const STAGES = {
  text: ['text_encoder'],
  denoise: ['transformer'],
  vae: ['vae_decoder', 'vae_decoder_init', 'vae_encoder'],
} as const satisfies Record<string, readonly ComponentName[]>;
type Stage = keyof typeof STAGES;

// Bytes of each stage's files by package folder, measured at load (for the cost estimate).
const stageBytes = new Map<string, number>();

const CACHE_IN = /^c(\d+)$/;
const CACHE_OUT = /^nc(\d+)$/;

/** A cache's number from its name (`c7` → 7, `nc7` → 7): caches are matched by number, never by position. */
function cacheNumber(name: string, pattern: RegExp): number | undefined {
  const m = pattern.exec(name);
  return m ? Number(m[1]) : undefined;
}

async function fileBytes(path: string): Promise<number> {
  let bytes = 0;
  for (const p of [path, `${path}.data`, `${path}_data`]) {
    try {
      bytes += (await stat(p)).size;
    } catch {
      // no such file
    }
  }
  return bytes;
}

function cpuOnly(device: LoadContext['device']): boolean {
  return device === 'cpu' || (device === 'auto' && !availableDevices().includes('cuda'));
}

/**
 * Check the streaming decoder pair: every cache the step graph takes (c<k>) comes out of both
 * graphs (nc<k>), and every step output nc<k> goes back in.
 * @throws ModelLoadError SIGNATURE_MISMATCH naming the graph and the cache.
 */
function checkCaches(initPath: string, init: GraphIo, stepPath: string, step: GraphIo): void {
  const ins = step.inputs.map((v) => cacheNumber(v.name, CACHE_IN)).filter((n): n is number => n !== undefined);
  const stepOuts = new Set(step.outputs.map((v) => cacheNumber(v.name, CACHE_OUT)).filter((n): n is number => n !== undefined));
  const initOuts = new Set(init.outputs.map((v) => cacheNumber(v.name, CACHE_OUT)).filter((n): n is number => n !== undefined));
  if (ins.length === 0) throw new ModelLoadError('SIGNATURE_MISMATCH', stepPath, `${stepPath} takes no caches (c0, c1, …): not a streaming VAE step graph`);
  for (const k of ins) {
    if (!stepOuts.has(k)) throw new ModelLoadError('SIGNATURE_MISMATCH', stepPath, `${stepPath} takes cache c${k} but returns no nc${k}`);
    if (!initOuts.has(k)) throw new ModelLoadError('SIGNATURE_MISMATCH', initPath, `${initPath} returns no nc${k}, which ${stepPath} takes as c${k}`);
  }
  for (const k of stepOuts) {
    if (!ins.includes(k)) throw new ModelLoadError('SIGNATURE_MISMATCH', stepPath, `${stepPath} returns nc${k} but takes no c${k}`);
  }
}

/** Release the sessions of every stage but `stage`, so one stage's weights are in memory at a time. */
async function enterStage(pkg: ModelPackage, stage: Stage): Promise<void> {
  const others = (Object.keys(STAGES) as Stage[]).filter((s) => s !== stage).flatMap((s) => [...STAGES[s]]);
  await pkg.release(others);
}

// umT5 tokenizers by package folder, read and checked at load (TOKENIZER_INVALID before any run).
const tokenizers = new Map<string, Umt5Tokenizer>();

/**
 * umT5 tokenization (models/tokenizers/umt5.ts): Wan's prompt cleaning, ids and mask [1, 512],
 * 511 tokens + `</s>` at most (as Hugging Face truncation keeps it), padded with 0.
 */
export async function tokenizeUmt5(pkg: ModelPackage, prompt: string): Promise<{ ids: Tensor<'int64'>; mask: Tensor<'int64'>; length: number }> {
  let tokenizer = tokenizers.get(pkg.dir);
  if (tokenizer === undefined) {
    tokenizer = await Umt5Tokenizer.load(join(pkg.dir, pkg.manifest.tokenizer.file), { textLength: WAN_TEXT_LENGTH });
    tokenizers.set(pkg.dir, tokenizer);
  }
  const e = tokenizer.encode(prompt);
  return { ids: tensor('int64', [1, WAN_TEXT_LENGTH], e.ids), mask: tensor('int64', [1, WAN_TEXT_LENGTH], e.mask), length: e.length };
}

/** Whether the DiT takes a batch of 2 (one call for cond and uncond) or is fixed at 1 (two calls). */
function batchedCfg(pkg: ModelPackage): boolean {
  const batch = pkg.inputInfo('transformer', 'latents')?.shape[0];
  return typeof batch !== 'number' || batch >= 2;
}

function teachFrames(frames: number): string {
  const below = frames - ((frames - 1) % 4);
  return `Wan needs 4k+1 frames (1, 5, …, 77, 81); ${frames} is not (try ${below >= 1 ? `${below} or ` : ''}${below + 4})`;
}

function teachSize(what: string, n: number): string {
  const below = n - (n % 16);
  return `Wan needs ${what} to be a multiple of 16; ${n} is not (try ${below > 0 ? `${below} or ` : ''}${below + 16})`;
}

/** `x` with the known latent frames (mask 1) set to (1 − σ)·known + σ·noise. */
function putKnown(x: Float32Array, known: Tensor<'float32'>, mask: Tensor<'float32'>, dims: readonly number[], sigma: number, noise: Float32Array): Float32Array {
  const [, channels = 1] = dims;
  const plane = size(dims.slice(2));
  const out = new Float32Array(x);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < plane; p++) {
      const m = mask.data[p];
      if (m === 0) continue;
      const i = c * plane + p;
      out[i] = x[i] * (1 - m) + ((1 - sigma) * known.data[i] + sigma * noise[i]) * m;
    }
  }
  return out;
}

export const wanFamily: ModelFamily & { sessionOptions: { memoryPattern: boolean } } = {
  name: 'wan',

  // The Wan authors measured denoising rise from 21 to 34 GB of GPU memory with ORT's memory pattern on.
  sessionOptions: { memoryPattern: false },

  /**
   * Read every graph's metadata from its file (no session: a 13 GB text encoder is not loaded to
   * check it), reject operators the CPU provider lacks when the run will be on the CPU, check the
   * roles and the decoder pair's caches.
   */
  async inspect(ctx: LoadContext): Promise<Map<ComponentName, GraphIo>> {
    const metadata = new Map<ComponentName, GraphIo>();
    const paths = new Map<ComponentName, string>();
    for (const name of ['text_encoder', 'transformer', 'vae_decoder_init', 'vae_decoder', 'vae_encoder'] as const) {
      const component = ctx.manifest.components[name];
      if (component === undefined) {
        if (name === 'vae_decoder_init') {
          const where = join(ctx.dir, 'skyloom.json');
          throw new ModelLoadError(
            'MANIFEST_INVALID',
            where,
            `${where}: the wan family decodes with a streaming VAE and needs a vae_decoder_init component (vae_decoder_init.onnx)`,
          );
        }
        continue;
      }
      const path = join(ctx.dir, component.file);
      if (!(await exists(path))) throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`);
      const scan = await scanOnnx(path);
      if (cpuOnly(ctx.device)) checkCpuOps(scan);
      const signature = SIGNATURES[name];
      if (signature !== undefined) {
        const isCache = name === 'vae_decoder' ? (n: string) => CACHE_IN.test(n) : () => false;
        checkSignature(component.file, path, scan, component, signature, isCache);
      }
      metadata.set(name, { inputs: scan.inputs, outputs: scan.outputs });
      paths.set(name, path);
    }
    const init = metadata.get('vae_decoder_init');
    const step = metadata.get('vae_decoder');
    if (init !== undefined && step !== undefined) checkCaches(paths.get('vae_decoder_init')!, init, paths.get('vae_decoder')!, step);
    let peak = 0;
    for (const stage of Object.values(STAGES)) {
      let bytes = 0;
      for (const c of stage) {
        const p = paths.get(c);
        if (p !== undefined) bytes += await fileBytes(p);
      }
      peak = Math.max(peak, bytes);
    }
    stageBytes.set(ctx.dir, peak);
    tokenizers.set(ctx.dir, await Umt5Tokenizer.load(join(ctx.dir, ctx.manifest.tokenizer.file), { textLength: WAN_TEXT_LENGTH }));
    return metadata;
  },

  capabilities: (manifest): Capability[] => (manifest.components.vae_encoder !== undefined ? ['t2v', 'i2v', 'extend', 'v2v'] : ['t2v']),

  defaultNegativePrompt: () => WAN_DEFAULT_NEGATIVE_PROMPT,

  frameCount: (pkg, latentFrames) => frameCountOf(pkg.manifest.latent, latentFrames),

  latentShape(pkg, width, height, frames) {
    if (![width, height, frames].every((n) => Number.isInteger(n) && n > 0)) {
      throw new ModelInputError(`width, height and frames must be positive integers but are ${width}, ${height} and ${frames}`);
    }
    if (width % 16 !== 0) throw new ModelInputError(teachSize('width', width));
    if (height % 16 !== 0) throw new ModelInputError(teachSize('height', height));
    if ((frames - 1) % 4 !== 0) throw new ModelInputError(teachFrames(frames));
    return [1, pkg.manifest.latent.channels, (frames - 1) / 4 + 1, height / 8, width / 8];
  },

  /**
   * umT5 on [1, 512] with the mask (as wannx runs it); rows at and past the prompt's length are
   * zeroed, as the reference does, so the padding carries nothing into the DiT's cross-attention.
   */
  async encodeText(pkg, prompts, options): Promise<TextConditioning> {
    if (options.maxLength !== undefined && options.maxLength !== WAN_TEXT_LENGTH) {
      throw new ModelInputError(`Wan's text encoder takes ${WAN_TEXT_LENGTH} tokens; maxLength ${options.maxLength} is not supported`);
    }
    if (prompts.length !== 1) throw new ModelInputError(`Wan encodes one prompt at a time (its graphs have batch 1) but got ${prompts.length}`);
    await enterStage(pkg, 'text');
    const { ids, mask, length } = await tokenizeUmt5(pkg, prompts[0]);
    const out = (await pkg.run('text_encoder', { input_ids: ids, attention_mask: mask }))['hidden_states'] as Tensor<'float32'>;
    const [, rows = 0, width = 0] = out.dims;
    const hidden = new Float32Array(out.data);
    hidden.fill(0, length * width, rows * width);
    return { hidden: tensor('float32', out.dims, hidden), mask };
  },

  /**
   * Flow matching: x_σ = (1 − σ)·x0 + σ·noise with N(0, 1) noise, the DiT predicts v; timesteps are
   * int(σ·1000) fed as the graph's float type. Guidance runs the batch-1 DiT twice per step,
   * v = u + g·(c − u). Known frames (extend) are put back at each step's σ.
   */
  async denoise(pkg, options: DenoiseOptions, dims, noise, guidance, useCfg) {
    const manifest = pkg.manifest;
    if (dims[0] !== 1) throw new ModelInputError(`Wan samples one video at a time (batch 1) but the latent has batch ${dims[0]}`);
    // UniPC is Wan's own sampler (and the manifest's default scheduler); euler and heun are there too.
    const sampler = flowSampler(options.sampler ?? (manifest.scheduler.type === 'flow-match-unipc' ? 'unipc' : 'euler'), {
      numTrainTimesteps: manifest.scheduler.numTrainTimesteps,
      shift: manifest.scheduler.shift,
    });
    const schedule = sampler.setTimesteps(options.steps ?? manifest.defaults.steps, { shift: options.shift, denoise: options.denoise });
    const { condLatents, condMask } = options;
    if (condLatents !== undefined) checkDims('condLatents', condLatents, dims);
    if (condMask !== undefined) checkDims('condMask', condMask, [1, 1, ...dims.slice(2)]);
    await enterStage(pkg, 'denoise');

    const withKnown = (sample: Float32Array, sigma: number): Float32Array => (condLatents && condMask ? putKnown(sample, condLatents, condMask, dims, sigma, noise.data) : sample);
    const batched = batchedCfg(pkg);
    const call = async (latents: Tensor<'float32'>, timestep: number, text: Tensor<'float32'>): Promise<Float32Array> => {
      const t = tensor('float32', [latents.dims[0]], new Float32Array(latents.dims[0]).fill(timestep));
      const out = await pkg.run('transformer', { latents, timestep: t, text }, { signal: options.signal });
      return (out['velocity'] as Tensor<'float32'>).data;
    };
    const velocityAt = async (sample: Float32Array, sigma: number, timestep: number): Promise<Float32Array> => {
      // Wan's timestep convention: int(σ·1000), truncated like torch's int64 cast.
      const t = Math.trunc(timestep);
      const latents = tensor('float32', dims, withKnown(sample, sigma));
      if (!useCfg || options.uncond === undefined) return call(latents, t, options.cond.hidden);
      if (batched) {
        const both = tensor('float32', [2, ...dims.slice(1)], new Float32Array([...latents.data, ...latents.data]));
        const text = tensor('float32', [2, ...options.cond.hidden.dims.slice(1)], new Float32Array([...options.cond.hidden.data, ...options.uncond.hidden.data]));
        return guide(await call(both, t, text), guidance);
      }
      const c = await call(latents, t, options.cond.hidden);
      const u = await call(latents, t, options.uncond.hidden);
      return guideTwo(c, u, guidance);
    };

    return sampleFlow(sampler, schedule, dims, noise.data, velocityAt, withKnown, options);
  },

  /**
   * Streaming decode: the init graph turns latent frame 0 into 1 frame and the caches nc0…nc32;
   * the step graph turns each later latent frame and the caches c<k> = previous nc<k> into 4
   * frames and new caches: 1 + 4·(T − 1) frames, each call's frames yielded at once, clamped to
   * [−1, 1] before they become bytes (the graphs do not clamp). `chunkFrames` does not apply.
   */
  async *decode(pkg, latents, _options): AsyncGenerator<VideoChunk> {
    const frames = checkLatents(pkg, latents);
    await enterStage(pkg, 'vae');
    const stepIo = pkg.io('vae_decoder');
    const initIo = pkg.io('vae_decoder_init');
    const videoOut = pkg.manifest.components.vae_decoder.outputs['video'] ?? 'video_frames';
    const latentIn = pkg.manifest.components.vae_decoder.inputs['latents'] ?? 'latent_frame';
    const cachesOf = (io: GraphIo | undefined) => (io?.outputs ?? []).map((v) => v.name).filter((n) => CACHE_OUT.test(n));
    const stepCacheInputs = (stepIo?.inputs ?? []).map((v) => v.name).filter((n) => CACHE_IN.test(n));
    let caches = new Map<number, Tensor>();
    let startFrame = 0;
    for (let i = 0; i < frames; i++) {
      const latent = slice(latents, 2, i, i + 1);
      let out: Record<string, Tensor>;
      if (i === 0) {
        const initLatentIn = pkg.manifest.components.vae_decoder_init?.inputs['latents'] ?? latentIn;
        const initVideoOut = pkg.manifest.components.vae_decoder_init?.outputs['video'] ?? videoOut;
        out = await pkg.runNamed('vae_decoder_init', { [initLatentIn]: latent }, [initVideoOut, ...cachesOf(initIo)]);
        out[videoOut] = out[initVideoOut]!;
      } else {
        const feeds: Record<string, Tensor> = { [latentIn]: latent };
        for (const name of stepCacheInputs) {
          const k = cacheNumber(name, CACHE_IN)!;
          const cache = caches.get(k);
          if (cache === undefined) throw new ModelInputError(`the VAE step graph needs cache c${k}, which the previous call did not return`);
          feeds[name] = cache;
        }
        // The caches (3.5 GB at 480p) are used once: hand their buffers to the worker instead of copying.
        out = await pkg.runNamed('vae_decoder', feeds, [videoOut, ...cachesOf(stepIo)], { transferFeeds: true });
      }
      const next = new Map<number, Tensor>();
      for (const [name, t] of Object.entries(out)) {
        const k = cacheNumber(name, CACHE_OUT);
        if (k !== undefined) next.set(k, t);
      }
      caches = next;
      const video = out[videoOut] as Tensor<'float32'>;
      const clamped = tensor(
        'float32',
        video.dims,
        video.data.map((v) => (v < -1 ? -1 : v > 1 ? 1 : v)),
      );
      const rgb = videoToRgb(clamped, startFrame);
      startFrame += rgb.frames;
      yield rgb;
    }
  },

  /** Whole-clip encode with a `vae_encoder` graph (`input_video` → `latent`, as wannx's converter names it). */
  async encode(pkg, video, _options) {
    if (!pkg.has('vae_encoder')) {
      throw new ModelInputError(
        `model ${pkg.manifest.name} (Wan2.1) has no VAE encoder: extend, image-to-video and video-to-video need one, and the wannx bundle ships none. ` +
          'Export vae_encoder.onnx (input_video → latent) into the model folder and run `skyloom models add` again (docs/models.md).',
      );
    }
    const dims = this.latentShape(pkg, video.width, video.height, video.frames);
    if (video.data.length !== video.frames * video.width * video.height * 3) {
      throw new ModelInputError(
        `video data has ${video.data.length} bytes but ${video.frames} frames of ${video.width}×${video.height} RGB need ${video.frames * video.width * video.height * 3}`,
      );
    }
    await enterStage(pkg, 'vae');
    const latents = (await pkg.run('vae_encoder', { video: rgbToVideo(video, 0, video.frames) }))['latents'] as Tensor<'float32'>;
    checkDims('encoded latents', latents, dims);
    return tensor('float32', latents.dims, new Float32Array(latents.data));
  },

  // umT5's Unigram covers every character (rare ones become <unk> pieces, still encoded): no word is refused.
  unsupportedWords: () => [],

  estimateCost(pkg, request) {
    const shape = this.latentShape(pkg, request.width, request.height, request.frames);
    const cost = costOf(pkg.manifest.latent, request, shape);
    const peak = stageBytes.get(pkg.dir);
    return peak === undefined ? cost : { ...cost, peakStageBytes: peak };
  },
};
