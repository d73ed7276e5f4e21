// The model API the graph nodes call: text encoding, sampling, VAE decode/encode, previews — each delegated to the package's family.
import { ModelInputError } from './errors.js';
import type { Capability, CostEstimate, CostRequest, ModelFamily } from './families/family.js';
import { checkDims, decoderContextOf, toUint8 } from './families/common.js';
import type { LatentFormat, SkyloomManifest } from './manifest.js';
import { loadModelPackage } from './package.js';
import type { LoadOptions, ModelPackage } from './package.js';
import { gaussianNoise } from './random.js';
import type { SamplerName } from './samplers.js';
import { tensor } from './tensor.js';
import type { Tensor } from './tensor.js';
import { promptWords } from './tokenizer.js';

export { SAMPLERS } from './samplers.js';
export type { SamplerName } from './samplers.js';

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

/**
 * A loaded video model. Latents handed in and out are normalised (`(raw − shift)·scaling`),
 * shaped [B, C, T, h, w]. Everything architecture-specific is the package's family
 * (models/families/): the same nodes run every family.
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

  /** The family that runs this model. */
  get family(): ModelFamily {
    return this.pkg.family;
  }

  private get latent(): LatentFormat {
    return this.pkg.manifest.latent;
  }

  /** What the model can make (t2v, i2v, extend, v2v). */
  capabilities(): Capability[] {
    return this.family.capabilities(this.pkg.manifest);
  }

  /** The negative prompt the family uses when guidance is on and none is given. */
  get defaultNegativePrompt(): string {
    return this.family.defaultNegativePrompt(this.pkg);
  }

  /** Words of a prompt the model cannot draw (out of its vocabulary); none for real tokenizers. */
  unsupportedWords(prompt: string): string[] {
    return this.family.unsupportedWords(this.pkg, prompt);
  }

  /**
   * The backgrounds a prompt asks for ("… on a white background") that this model cannot draw,
   * as written before "background" ("white"); empty when its package names no backgrounds
   * (`prompt.backgrounds` in skyloom.json) or it draws them all.
   */
  unsupportedBackgrounds(prompt: string): string[] {
    const known = this.pkg.manifest.prompt?.backgrounds;
    return known ? backgroundsOutside(prompt, known) : [];
  }

  /**
   * The words of a prompt this model's text encoder never sees (out of its vocabulary), as
   * written; empty when it knows them all or its tokenizer covers any text. The family decides.
   */
  unknownWords(text: string): string[] {
    return this.family.unsupportedWords(this.pkg, text);
  }

  /**
   * Latent frames [before, after] of context each decoded chunk needs to come out as it would in
   * a whole-clip decode (the manifest's `latent.decoderContext`). A streaming decoder (2.0) carries
   * caches instead and does not read it.
   */
  decoderContext(): [number, number] {
    return decoderContextOf(this.latent);
  }

  /**
   * Work and memory of one generation, for admission control.
   * @throws ModelInputError when the size breaks the family's rules.
   */
  estimateCost(request: CostRequest): CostEstimate {
    return this.family.estimateCost(this.pkg, request);
  }

  /** Video frames produced by T latent frames. */
  frameCount(latentFrames: number): number {
    return this.family.frameCount(this.pkg, latentFrames);
  }

  /**
   * Latent shape [1, C, T, h, w] for a video size.
   * @throws ModelInputError when width/height or the frame count break the family's rules
   *   (e.g. "frames must be a multiple of 4 but is 15").
   */
  latentShape(width: number, height: number, frames: number): number[] {
    return this.family.latentShape(this.pkg, width, height, frames);
  }

  /**
   * Encode a batch of prompts (padding, masks and the unconditional input are the family's).
   * @throws ModelInputError for an empty batch or a bad maxLength.
   * @throws ModelRunError when the text encoder fails.
   */
  async encodeText(prompts: readonly string[], options: { maxLength?: number } = {}): Promise<TextConditioning> {
    if (prompts.length === 0) throw new ModelInputError('encodeText needs at least one prompt');
    return this.family.encodeText(this.pkg, prompts, options);
  }

  /**
   * Sample latents with the family's denoiser, scheduler and guidance mode.
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
    // Strength 0: the input latents as they are, so decoding them gives the input's VAE round trip
    // (the limit every strength above 0 tends to) without a DiT call.
    if (options.denoise === 0 && options.initLatents !== undefined) {
      return tensor('float32', options.initLatents.dims, Float32Array.from(options.initLatents.data));
    }
    const noise = gaussianNoise(dims, options.seed);
    return this.family.denoise(this.pkg, options, dims, noise, guidance, useCfg);
  }

  /**
   * Decode normalised latents [1, C, T, h, w] to RGB frames, yielding each chunk as soon as it is
   * ready so memory stays flat over the video length (chunked, or streaming with caches).
   * @throws ModelInputError for a wrong shape or chunk size.
   * @throws ModelRunError when the decoder fails.
   */
  decode(latents: Tensor<'float32'>, options: ChunkOptions = {}): AsyncGenerator<VideoChunk> {
    return this.family.decode(this.pkg, latents, options);
  }

  /**
   * Encode RGB frames to normalised latents [1, C, T, h, w].
   * @throws ModelInputError when the size breaks {@link latentShape} or there is no vae_encoder.
   * @throws ModelRunError when the encoder fails.
   */
  async encode(video: RgbFrames, options: ChunkOptions = {}): Promise<Tensor<'float32'>> {
    return this.family.encode(this.pkg, video, options);
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
}

/** Words that end the name of a background when reading back from "background". */
const BEFORE_A_BACKGROUND = new Set(['a', 'an', 'the', 'on', 'over', 'against', 'in', 'into', 'at', 'of', 'with', 'and', 'or', 'to', 'from', 'front', 'behind']);

/**
 * The backgrounds `prompt` asks for that are not among `known`: for each "… background(s)", the
 * words before it back to an article, a preposition or a conjunction (at most three), lower-cased
 * ("on a Dark Green background" → "dark green"). Each once, in prompt order.
 */
export function backgroundsOutside(prompt: string, known: readonly string[]): string[] {
  const words = promptWords(prompt.toLowerCase()).map((w) => w.replace(/^'+|'+$/g, ''));
  const names = new Set(known.map((k) => k.toLowerCase()));
  const outside: string[] = [];
  for (const [i, word] of words.entries()) {
    if (word !== 'background' && word !== 'backgrounds') continue;
    const name: string[] = [];
    for (let j = i - 1; j >= 0 && name.length < 3 && !BEFORE_A_BACKGROUND.has(words[j]!); j--) name.unshift(words[j]!);
    // A known name may follow other words ("a bright navy background": navy); the others are the
    // unknown-word warning's. "green" alone is not "dark green".
    const asked = name.join(' ');
    if (asked === '' || name.some((_, k) => names.has(name.slice(k).join(' ')))) continue;
    if (!outside.includes(asked)) outside.push(asked);
  }
  return outside;
}
