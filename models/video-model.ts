// The model API the graph nodes call: text encoding, sampling, chunked VAE decode/encode, previews.
import { ModelInputError } from './errors.js';
import type { LatentFormat, SkyloomManifest } from './manifest.js';
import { loadModelPackage } from './package.js';
import type { LoadOptions, ModelPackage } from './package.js';
import { gaussianNoise } from './random.js';
import { EulerDiscreteScheduler } from './schedulers/euler-discrete.js';
import { FlowMatchEulerScheduler } from './schedulers/flow-match-euler.js';
import type { FlowSampler } from './schedulers/flow-match-euler.js';
import { FlowMatchHeunScheduler } from './schedulers/flow-match-heun.js';
import { FlowMatchUniPCScheduler } from './schedulers/flow-match-unipc.js';
import { concat, reshape, size, slice, tensor, zeros } from './tensor.js';
import type { Tensor } from './tensor.js';

/** Encoded prompts: hidden states [B, L, D] and the token mask [B, L] (1 = real token). */
export interface TextConditioning {
  hidden: Tensor<'float32'>;
  mask: Tensor<'int64'>;
}

/** RGB frames, uint8, frame-major then row-major, 3 bytes per pixel (length frames·height·width·3). */
export interface RgbFrames {
  frames: number;
  width: number;
  height: number;
  data: Uint8Array;
}

/** One decoded chunk, with the index of its first frame in the whole video. */
export interface VideoChunk extends RgbFrames {
  startFrame: number;
}

/** Samplers of rectified-flow models; Stable Diffusion packages accept only 'euler' (euler-discrete). */
export type SamplerName = 'euler' | 'heun' | 'unipc';

/** Valid sampler names, in the order error messages list them. */
export const SAMPLERS: readonly SamplerName[] = ['euler', 'heun', 'unipc'];

/** Options of {@link VideoModel.denoise}. */
export interface DenoiseOptions {
  /** Latent shape [B, C, T, h, w] (from {@link VideoModel.latentShape}); or give `initLatents`. */
  shape?: readonly number[];
  /** Normalised latents to start from (video-to-video); they are noised to the first σ of the schedule. */
  initLatents?: Tensor<'float32'>;
  /** Prompt conditioning, batch B. */
  cond: TextConditioning;
  /** Negative / empty prompt conditioning; required when guidance ≠ 1. */
  uncond?: TextConditioning;
  /** Classifier-free guidance scale; 1 runs the conditional branch only. Default: the manifest's. */
  guidance?: number;
  /** Default: the manifest's. */
  steps?: number;
  sampler?: SamplerName;
  /** Time shift. Default: the manifest's scheduler shift. */
  shift?: number;
  /** Noise seed, an integer in [0, 2^53 − 1]. */
  seed: number;
  /**
   * Strength in [0, 1]: with `initLatents`, how far back towards noise to start; 0 returns them
   * unchanged. Default 1.
   */
  denoise?: number;
  /** Known latents [B, C, T, h, w] (normalised) for extend / image-to-video / connect / loop. */
  condLatents?: Tensor<'float32'>;
  /** [B, 1, T, h, w], 1 where the latent frame is known. */
  condMask?: Tensor<'float32'>;
  /**
   * Checked before every step and passed to every denoiser call, so an abort lands within the call
   * running now; an aborted run throws `signal.reason` (see {@link VideoModel.denoise}).
   */
  signal?: AbortSignal;
  /** Called after each step with the normalised clean-latent estimate, for previews. */
  onStep?: (step: number, total: number, x0Estimate: Tensor<'float32'>) => void | Promise<void>;
}

/** Options of {@link VideoModel.decode} and {@link VideoModel.encode}. */
export interface ChunkOptions {
  /** Latent frames (T) per VAE call; peak memory grows with this, not with video length. Default 4. */
  chunkFrames?: number;
}

function toUint8(v: number): number {
  const x = Math.round((v + 1) * 127.5);
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

// [1, 3, F, H, W] in [-1, 1] (channel-planar) → interleaved RGB bytes per frame.
function videoToRgb(video: Tensor<'float32'>, startFrame: number): VideoChunk {
  const [, , frames = 0, height = 0, width = 0] = video.dims;
  const plane = frames * height * width;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) data[p * 3 + c] = toUint8(video.data[c * plane + p]);
  }
  return { startFrame, frames, width, height, data };
}

function rgbToVideo(video: RgbFrames, from: number, to: number): Tensor<'float32'> {
  const pixels = video.width * video.height;
  const plane = (to - from) * pixels;
  const out = new Float32Array(plane * 3);
  const base = from * pixels * 3;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = video.data[base + p * 3 + c] / 127.5 - 1;
  }
  return tensor('float32', [1, 3, to - from, video.height, video.width], out);
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkDims(what: string, t: Tensor, dims: readonly number[]): void {
  if (!sameDims(t.dims, dims)) throw new ModelInputError(`${what} must have shape [${dims.join(', ')}] but has [${t.dims.join(', ')}]`);
}

/** x·a + y·b elementwise. */
function mix(x: Float32Array, a: number, y: Float32Array, b: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * a + y[i] * b;
  return out;
}

/** v_uncond + g·(v_cond − v_uncond), from one batch holding [cond; uncond]. */
function guide(batch: Float32Array, guidance: number): Float32Array {
  const half = batch.length / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const c = batch[i];
    const u = batch[half + i];
    out[i] = u + guidance * (c - u);
  }
  return out;
}

/**
 * A loaded video model. Latents handed in and out are normalised (`(raw − shift)·scaling`),
 * shaped [B, C, T, h, w]; a Stable Diffusion package is a one-frame model (T = 1).
 */
export class VideoModel {
  constructor(readonly pkg: ModelPackage) {}

  /**
   * Load a package by folder or name.
   * @throws ModelLoadError / UnsupportedDeviceError as {@link loadModelPackage}.
   */
  static async load(dirOrName: string, options: LoadOptions = {}): Promise<VideoModel> {
    return new VideoModel(await loadModelPackage(dirOrName, options));
  }

  get manifest(): SkyloomManifest {
    return this.pkg.manifest;
  }

  private get latent(): LatentFormat {
    return this.pkg.manifest.latent;
  }

  /** Video frames produced by T latent frames. */
  frameCount(latentFrames: number): number {
    const k = this.latent.temporalCompression;
    return this.latent.frameRule === 'causal' ? 1 + k * (latentFrames - 1) : k * latentFrames;
  }

  /**
   * Latent shape [1, C, T, h, w] for a video size.
   * @throws ModelInputError when width/height are not multiples of spatialCompression·patch or the
   *   frame count breaks the frame rule (e.g. "frames must be a multiple of 4 but is 15").
   */
  latentShape(width: number, height: number, frames: number): number[] {
    const { spatialCompression: s, temporalCompression: k, patchSize, frameRule, channels } = this.latent;
    const [pt, ph, pw] = patchSize;
    const mh = s * ph;
    const mw = s * pw;
    const badSize = ![width, height, frames].every((n) => Number.isInteger(n) && n > 0);
    if (badSize) throw new ModelInputError(`width, height and frames must be positive integers but are ${width}, ${height} and ${frames}`);
    if (width % mw !== 0 || height % mh !== 0) {
      throw new ModelInputError(
        mw === mh
          ? `width and height must be multiples of ${mw} but are ${width} and ${height}`
          : `width must be a multiple of ${mw} and height of ${mh} but they are ${width} and ${height}`,
      );
    }
    if (this.pkg.kind === 'stable-diffusion' && frames !== 1) {
      throw new ModelInputError(`frames must be 1 for the one-frame model ${this.manifest.name} but is ${frames}`);
    }
    let latentFrames: number;
    if (frameRule === 'causal') {
      if ((frames - 1) % k !== 0) throw new ModelInputError(`frames must be 1 more than a multiple of ${k} but is ${frames}`);
      latentFrames = 1 + (frames - 1) / k;
    } else {
      if (frames % k !== 0) throw new ModelInputError(`frames must be a multiple of ${k} but is ${frames}`);
      latentFrames = frames / k;
    }
    if (latentFrames % pt !== 0) {
      throw new ModelInputError(`frames must give a multiple of ${pt} latent frames but ${frames} gives ${latentFrames}`);
    }
    return [1, channels, latentFrames, height / s, width / s];
  }

  /**
   * Encode a batch of prompts. For skyloom packages an empty (or blank) prompt encodes to an
   * all-zero mask: that is the unconditional input the DiT was trained with (docs/model-package.md).
   * @throws ModelInputError for an empty batch or a bad maxLength.
   * @throws ModelRunError when the text encoder fails.
   */
  async encodeText(prompts: readonly string[], options: { maxLength?: number } = {}): Promise<TextConditioning> {
    if (prompts.length === 0) throw new ModelInputError('encodeText needs at least one prompt');
    const { inputIds, attentionMask } = this.pkg.tokenizer.encode(prompts, options.maxLength);
    const length = inputIds.dims[1];
    if (this.pkg.kind === 'skyloom') {
      prompts.forEach((prompt, b) => {
        if (prompt.trim() !== '') return;
        inputIds.data.fill(BigInt(this.pkg.tokenizer.padId), b * length, (b + 1) * length);
        attentionMask.data.fill(0n, b * length, (b + 1) * length);
      });
      const out = await this.pkg.run('text_encoder', { input_ids: inputIds, attention_mask: attentionMask });
      return { hidden: out['hidden_states'] as Tensor<'float32'>, mask: attentionMask };
    }
    // Optimum's CLIP export takes int32 ids and no mask (CLIP attends causally over the padding).
    const ids =
      this.pkg.inputInfo('text_encoder', 'input_ids')?.type === 'int32'
        ? tensor('int32', inputIds.dims, Int32Array.from(inputIds.data, (v) => Number(v)))
        : inputIds;
    const out = await this.pkg.run('text_encoder', { input_ids: ids });
    return { hidden: out['hidden_states'] as Tensor<'float32'>, mask: attentionMask };
  }

  /**
   * The words of a prompt this model's text encoder never sees (out of its vocabulary), as
   * written; empty when it knows them all or its tokenizer covers any text (byte-level BPE).
   */
  unknownWords(text: string): string[] {
    return this.pkg.tokenizer.unknownWords(text);
  }

  /**
   * Sample latents. Rectified flow for skyloom packages: x_σ = (1 − σ)·x0 + σ·noise, the DiT
   * predicts v = noise − x0, the cond and uncond branches run as one batch of 2B per DiT call, and
   * known frames (condLatents/condMask) are fed every step, noised to its σ as in training, and
   * restored exactly in the result.
   * Stable Diffusion packages use ε-prediction with the euler-discrete scheduler.
   * @returns normalised latents of the requested shape.
   * @throws the AbortSignal's `reason` (the caller's own error, e.g. the engine's `Cancelled`; a
   *   DOMException "AbortError" when aborted without one) when `signal` is aborted, between steps or
   *   during a denoiser call (which then finishes on the worker thread, its result dropped).
   * @throws ModelInputError for inconsistent shapes, a missing uncond, an unknown sampler, a bad seed.
   * @throws ModelRunError when a model fails.
   */
  async denoise(options: DenoiseOptions): Promise<Tensor<'float32'>> {
    const dims = options.shape ?? options.initLatents?.dims;
    if (dims === undefined) throw new ModelInputError('denoise needs a latent shape or initLatents');
    const channels = this.latent.channels;
    if (dims.length !== 5 || dims[1] !== channels) {
      throw new ModelInputError(`latents must have shape [B, ${channels}, T, h, w] but have [${dims.join(', ')}]`);
    }
    if (options.initLatents !== undefined) checkDims('initLatents', options.initLatents, dims);
    if (options.denoise !== undefined && options.denoise < 1 && options.initLatents === undefined) {
      throw new ModelInputError(`denoise ${options.denoise} needs initLatents to start from`);
    }
    const batch = dims[0];
    checkDims('cond.hidden', options.cond.hidden, [batch, ...options.cond.hidden.dims.slice(1)]);
    const guidance = options.guidance ?? this.manifest.defaults.guidance;
    const useCfg = guidance !== 1;
    if (useCfg) {
      if (options.uncond === undefined) throw new ModelInputError(`guidance ${guidance} needs an unconditional text (uncond)`);
      checkDims('uncond.hidden', options.uncond.hidden, options.cond.hidden.dims);
    }
    if (options.denoise === 0 && options.initLatents !== undefined) return this.unchanged(options.initLatents);
    const noise = gaussianNoise(dims, options.seed);
    return this.pkg.kind === 'skyloom'
      ? this.denoiseFlow(options, dims, noise, guidance, useCfg)
      : this.denoiseEpsilon(options, dims, noise, guidance, useCfg);
  }

  private async denoiseFlow(
    options: DenoiseOptions,
    dims: readonly number[],
    noise: Tensor<'float32'>,
    guidance: number,
    useCfg: boolean,
  ): Promise<Tensor<'float32'>> {
    const samplerName = options.sampler ?? 'euler';
    const config = { numTrainTimesteps: this.manifest.scheduler.numTrainTimesteps, shift: this.manifest.scheduler.shift };
    let sampler: FlowSampler;
    if (samplerName === 'euler') sampler = new FlowMatchEulerScheduler(config);
    else if (samplerName === 'heun') sampler = new FlowMatchHeunScheduler(config);
    else if (samplerName === 'unipc') sampler = new FlowMatchUniPCScheduler(config);
    else throw new ModelInputError(`Unsupported sampler "${String(samplerName)}". Should be one of: ${SAMPLERS.join(', ')}`);
    const steps = options.steps ?? this.manifest.defaults.steps;
    const schedule = sampler.setTimesteps(steps, { shift: options.shift, denoise: options.denoise });

    const [batch = 1, , frames = 1, h = 1, w = 1] = dims;
    const maskDims = [batch, 1, frames, h, w];
    const { condLatents, condMask } = options;
    if (condLatents !== undefined) checkDims('condLatents', condLatents, dims);
    if (condMask !== undefined) checkDims('condMask', condMask, maskDims);
    const mapsCond = this.manifest.components.transformer.inputs['cond_latents'] !== undefined;
    if (condLatents && condMask && !mapsCond) throw new ModelInputError(`model ${this.manifest.name} cannot take known frames (no cond_latents input)`);

    // Everything but x_t and the timestep is the same on every step: build the 2B batch once.
    const twice = <T extends 'float32' | 'int64'>(t: Tensor<T>): Tensor<T> => (useCfg ? concat([t, t], 0) : t);
    const text = useCfg && options.uncond ? concat([options.cond.hidden, options.uncond.hidden], 0) : options.cond.hidden;
    const textMask = useCfg && options.uncond ? concat([options.cond.mask, options.uncond.mask], 0) : options.cond.mask;
    const fixed: Record<string, Tensor> = { text, text_mask: textMask };
    if (mapsCond) {
      fixed['cond_latents'] = twice(condLatents ?? zeros('float32', dims));
      fixed['cond_mask'] = twice(condMask ?? zeros('float32', maskDims));
    }
    const runBatch = useCfg ? 2 * batch : batch;

    // Known frames enter x_σ as they did in training, noised to the step's σ with this run's noise:
    // x_σ = (1 − σ)·x0 + σ·noise. Left to the sampler they would follow the DiT's velocity there,
    // which training never fits (its loss skips known frames), and the new frames attend to them.
    const withKnown = (sample: Float32Array, sigma: number): Float32Array =>
      condLatents && condMask ? this.putKnown(sample, condLatents, condMask, dims, sigma, noise.data) : sample;
    const velocityAt = async (sample: Float32Array, sigma: number, timestep: number): Promise<Float32Array> => {
      const latents = twice(tensor('float32', dims, withKnown(sample, sigma)));
      const t = tensor('float32', [runBatch], new Float32Array(runBatch).fill(timestep));
      const out = await this.pkg.run('transformer', { ...fixed, latents, timestep: t }, { signal: options.signal });
      const v = (out['velocity'] as Tensor<'float32'>).data;
      return useCfg ? guide(v, guidance) : v;
    };

    const sigma0 = schedule.sigmas[0];
    let x = options.initLatents ? mix(options.initLatents.data, 1 - sigma0, noise.data, sigma0) : noise.data;
    const total = schedule.timesteps.length;
    const state = sampler.createState();
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted();
      const { prevSample, denoised } = await sampler.step(velocityAt, x, schedule, i, state);
      x = prevSample;
      await options.onStep?.(i + 1, total, tensor('float32', dims, denoised));
    }
    // The result takes the known frames back exactly (σ = 0).
    return tensor('float32', dims, withKnown(x, 0));
  }

  /**
   * Strength 0: the input latents as they are, so decoding them gives the input's VAE round trip
   * (the limit every strength above 0 tends to) without a DiT call.
   */
  private unchanged(initLatents: Tensor<'float32'>): Tensor<'float32'> {
    return tensor('float32', initLatents.dims, Float32Array.from(initLatents.data));
  }

  /** `x` with the known frames (mask 1) replaced by (1 − σ)·cond + σ·noise. */
  private putKnown(
    x: Float32Array,
    cond: Tensor<'float32'>,
    mask: Tensor<'float32'>,
    dims: readonly number[],
    sigma: number,
    noise: Float32Array,
  ): Float32Array {
    const [batch = 1, channels = 1] = dims;
    const plane = size(dims.slice(2));
    const out = new Float32Array(x);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < channels; c++) {
        for (let p = 0; p < plane; p++) {
          const m = mask.data[b * plane + p];
          if (m === 0) continue;
          const i = (b * channels + c) * plane + p;
          const known = (1 - sigma) * cond.data[i] + sigma * noise[i];
          out[i] = x[i] * (1 - m) + known * m;
        }
      }
    }
    return out;
  }

  private async denoiseEpsilon(
    options: DenoiseOptions,
    dims: readonly number[],
    noise: Tensor<'float32'>,
    guidance: number,
    useCfg: boolean,
  ): Promise<Tensor<'float32'>> {
    if (options.condLatents !== undefined || options.condMask !== undefined) {
      throw new ModelInputError(`model ${this.manifest.name} cannot take known frames (no cond_latents input)`);
    }
    if (options.sampler !== undefined && options.sampler !== 'euler') {
      throw new ModelInputError(`sampler "${options.sampler}" is not available for ${this.manifest.name}: Stable Diffusion packages sample with euler`);
    }
    if (dims[2] !== 1) throw new ModelInputError(`latents of the one-frame model ${this.manifest.name} must have T = 1 but have T = ${dims[2]}`);
    const [batch = 1, channels = 4, , h = 1, w = 1] = dims;
    const imageDims = [batch, channels, h, w];
    const scheduler = new EulerDiscreteScheduler(this.pkg.eulerDiscrete);
    const schedule = scheduler.setTimesteps(options.steps ?? this.manifest.defaults.steps, { denoise: options.denoise });
    const text = useCfg && options.uncond ? concat([options.cond.hidden, options.uncond.hidden], 0) : options.cond.hidden;
    const timestepType = this.pkg.inputInfo('transformer', 'timestep')?.type;

    let x = options.initLatents
      ? mix(options.initLatents.data, 1, noise.data, schedule.sigmas[0])
      : noise.data.map((v) => v * schedule.initNoiseSigma);
    const total = schedule.timesteps.length;
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted();
      const sigma = schedule.sigmas[i];
      const t = schedule.timesteps[i];
      const scaled = tensor('float32', imageDims, scheduler.scaleModelInput(x, sigma));
      // As diffusers' ONNX pipeline: one timestep, broadcast by the UNet over the batch.
      const timestep = timestepType === 'int64' ? tensor('int64', [1], BigInt64Array.of(BigInt(Math.round(t)))) : tensor('float32', [1], Float32Array.of(t));
      const out = await this.pkg.run('transformer', { latents: useCfg ? concat([scaled, scaled], 0) : scaled, timestep, text }, { signal: options.signal });
      const eps = (out['noise'] as Tensor<'float32'>).data;
      const { prevSample, denoised } = scheduler.step(useCfg ? guide(eps, guidance) : eps, x, schedule, i);
      x = prevSample;
      await options.onStep?.(i + 1, total, tensor('float32', dims, denoised));
    }
    return tensor('float32', dims, x);
  }

  /**
   * Decode normalised latents [1, C, T, h, w] to RGB frames, `chunkFrames` latent frames per VAE
   * call, yielding each chunk as soon as it is ready so memory stays flat over the video length.
   * Each chunk is decoded with {@link decoderContext} latent frames around it and the frames they
   * produce are dropped, so the result equals a whole-clip decode (no seams at chunk borders) while
   * each call still holds at most chunk + context latent frames. A causal VAE has at least the
   * previous latent frame in front, so the frame count is 1 + k·(T − 1) as in one call.
   * @throws ModelInputError for a wrong shape or chunk size.
   * @throws ModelRunError when the decoder fails.
   */
  async *decode(latents: Tensor<'float32'>, options: ChunkOptions = {}): AsyncGenerator<VideoChunk> {
    const frames = this.checkLatents(latents);
    const chunk = this.chunkSize(options);
    const [before, after] = this.decoderContext();
    let startFrame = 0;
    for (let start = 0; start < frames; start += chunk) {
      const end = Math.min(frames, start + chunk);
      const from = Math.max(0, start - before);
      const to = Math.min(frames, end + after);
      let video = await this.decodeLatents(slice(latents, 2, from, to));
      // Keep the frames of [start, end) only: those of the context are decoded again by their own chunk.
      const skip = from < start ? this.frameCount(start - from) : 0;
      const keep = start === 0 ? this.frameCount(end) : this.frameCount(end) - this.frameCount(start);
      video = slice(video, 2, skip, skip + keep);
      const rgb = videoToRgb(video, startFrame);
      startFrame += rgb.frames;
      yield rgb;
    }
  }

  /**
   * Latent frames [before, after] of context each decoded chunk needs to come out as it would in
   * a whole-clip decode (the manifest's `latent.decoderContext`).
   */
  decoderContext(): [number, number] {
    const causal = this.latent.frameRule === 'causal';
    const [before, after] = this.latent.decoderContext ?? [causal ? 1 : 0, 0];
    // A causal decoder turns the first latent frame of a call into one frame, not k: a later
    // chunk needs at least the latent frame before it to come out with its k frames.
    return [causal ? Math.max(1, before) : before, after];
  }

  // One VAE decoder call on normalised latents [1, C, t, h, w] → [1, 3, F, H, W] in [-1, 1].
  private async decodeLatents(part: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    const { scalingFactor, shiftFactor } = this.latent;
    const raw = tensor('float32', part.dims, part.data.map((v) => v / scalingFactor + shiftFactor));
    if (this.pkg.kind === 'stable-diffusion') {
      const [, c = 4, , h = 1, w = 1] = raw.dims;
      const out = (await this.pkg.run('vae_decoder', { latents: reshape(raw, [1, c, h, w]) }))['video'] as Tensor<'float32'>;
      const [, , H = 1, W = 1] = out.dims;
      return reshape(out, [1, 3, 1, H, W]);
    }
    return (await this.pkg.run('vae_decoder', { latents: raw }))['video'] as Tensor<'float32'>;
  }

  /**
   * Encode RGB frames to normalised latents [1, C, T, h, w], chunked over time (a causal VAE is
   * encoded in one call: its chunks would not share the first-frame rule).
   * @throws ModelInputError when the size breaks {@link latentShape} or there is no vae_encoder.
   * @throws ModelRunError when the encoder fails.
   */
  async encode(video: RgbFrames, options: ChunkOptions = {}): Promise<Tensor<'float32'>> {
    if (!this.pkg.has('vae_encoder')) throw new ModelInputError(`model ${this.manifest.name} has no vae_encoder`);
    const dims = this.latentShape(video.width, video.height, video.frames);
    if (video.data.length !== video.frames * video.width * video.height * 3) {
      throw new ModelInputError(`video data has ${video.data.length} bytes but ${video.frames} frames of ${video.width}×${video.height} RGB need ${video.frames * video.width * video.height * 3}`);
    }
    const { scalingFactor, shiftFactor, frameRule, temporalCompression: k, channels } = this.latent;
    const chunkPixels = frameRule === 'causal' ? video.frames : this.chunkSize(options) * k;
    const parts: Tensor<'float32'>[] = [];
    for (let from = 0; from < video.frames; from += chunkPixels) {
      const to = Math.min(video.frames, from + chunkPixels);
      let input = rgbToVideo(video, from, to);
      if (this.pkg.kind === 'stable-diffusion') input = reshape(input, [1, 3, video.height, video.width]);
      let raw = (await this.pkg.run('vae_encoder', { video: input }))['latents'] as Tensor<'float32'>;
      // Optimum's newer export returns mean ‖ log-variance; the mean is the deterministic encoding.
      if (raw.dims[1] === 2 * channels) raw = slice(raw, 1, 0, channels);
      if (this.pkg.kind === 'stable-diffusion') raw = reshape(raw, [1, channels, 1, raw.dims[2], raw.dims[3]]);
      parts.push(tensor('float32', raw.dims, raw.data.map((v) => (v - shiftFactor) * scalingFactor)));
    }
    const latents = concat(parts, 2);
    checkDims('encoded latents', latents, dims);
    return latents;
  }

  /**
   * Cheap RGB previews of every latent frame (batch item 0), at latent resolution, from the
   * manifest's previewFactors/previewBias — no VAE call.
   * @throws ModelInputError for a wrong shape.
   */
  preview(latents: Tensor<'float32'>): RgbFrames {
    const { channels, previewFactors, previewBias } = this.latent;
    if (latents.dims.length !== 5 || latents.dims[1] !== channels) {
      throw new ModelInputError(`latents must have shape [B, ${channels}, T, h, w] but have [${latents.dims.join(', ')}]`);
    }
    const [, , frames = 1, height = 1, width = 1] = latents.dims;
    const plane = frames * height * width;
    const data = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let rgb = 0; rgb < 3; rgb++) {
        let v = previewBias[rgb];
        for (let c = 0; c < channels; c++) v += latents.data[c * plane + p] * previewFactors[c][rgb];
        data[p * 3 + rgb] = toUint8(v);
      }
    }
    return { frames, width, height, data };
  }

  private checkLatents(latents: Tensor<'float32'>): number {
    const { channels } = this.latent;
    if (latents.dims.length !== 5 || latents.dims[0] !== 1 || latents.dims[1] !== channels) {
      throw new ModelInputError(`latents must have shape [1, ${channels}, T, h, w] but have [${latents.dims.join(', ')}]`);
    }
    return latents.dims[2];
  }

  private chunkSize(options: ChunkOptions): number {
    const chunk = options.chunkFrames ?? 4;
    if (!Number.isInteger(chunk) || chunk < 1) throw new ModelInputError(`chunkFrames must be a positive integer but is ${chunk}`);
    return chunk;
  }
}
