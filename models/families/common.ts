// Helpers the families share: the frame and size rules of a latent format, RGB ↔ tensor, guidance, chunked VAE loops.
import { ModelInputError } from '../errors.js';
import type { LatentFormat } from '../manifest.js';
import type { ModelPackage } from '../package.js';
import { concat, slice, tensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import type { FlowSampler, FlowSchedule, VelocityFn } from '../schedulers/flow-match-euler.js';
import type { ChunkOptions, DenoiseOptions, RgbFrames, VideoChunk } from '../video-model.js';
import type { CostEstimate, CostRequest } from './family.js';

/** [-1, 1] → a byte. */
export function toUint8(v: number): number {
  const x = Math.round((v + 1) * 127.5);
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/** [1, 3, F, H, W] in [-1, 1] (channel-planar) → interleaved RGB bytes per frame. */
export function videoToRgb(video: Tensor<'float32'>, startFrame: number): VideoChunk {
  const [, , frames = 0, height = 0, width = 0] = video.dims;
  const plane = frames * height * width;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) data[p * 3 + c] = toUint8(video.data[c * plane + p]);
  }
  return { startFrame, frames, width, height, data };
}

/** Frames [from, to) of RGB bytes → [1, 3, F, H, W] in [-1, 1]. */
export function rgbToVideo(video: RgbFrames, from: number, to: number): Tensor<'float32'> {
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

/** @throws ModelInputError when `t` does not have shape `dims`. */
export function checkDims(what: string, t: Tensor, dims: readonly number[]): void {
  if (!sameDims(t.dims, dims)) throw new ModelInputError(`${what} must have shape [${dims.join(', ')}] but has [${t.dims.join(', ')}]`);
}

/** x·a + y·b elementwise. */
export function mix(x: Float32Array, a: number, y: Float32Array, b: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * a + y[i] * b;
  return out;
}

/** v_uncond + g·(v_cond − v_uncond), from one batch holding [cond; uncond]. */
export function guide(batch: Float32Array, guidance: number): Float32Array {
  const half = batch.length / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const c = batch[i];
    const u = batch[half + i];
    out[i] = u + guidance * (c - u);
  }
  return out;
}

/** u + g·(c − u) from two separate calls' outputs. */
export function guideTwo(cond: Float32Array, uncond: Float32Array, guidance: number): Float32Array {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < cond.length; i++) out[i] = uncond[i] + guidance * (cond[i] - uncond[i]);
  return out;
}

/** Video frames made by T latent frames under a latent format's frame rule. */
export function frameCountOf(latent: LatentFormat, latentFrames: number): number {
  const k = latent.temporalCompression;
  return latent.frameRule === 'causal' ? 1 + k * (latentFrames - 1) : k * latentFrames;
}

/**
 * Latent shape [1, C, T, h, w] for a video size under a latent format.
 * @throws ModelInputError when width/height are not multiples of spatialCompression·patch or the
 *   frame count breaks the frame rule (e.g. "frames must be a multiple of 4 but is 15").
 */
export function latentShapeOf(latent: LatentFormat, width: number, height: number, frames: number): number[] {
  const { spatialCompression: s, temporalCompression: k, patchSize, frameRule, channels } = latent;
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

/** Tokens, calls and pixels of one generation from a latent format (the shared cost model). */
export function costOf(latent: LatentFormat, request: CostRequest, shape: readonly number[]): CostEstimate {
  const [, , t = 1, h = 1, w = 1] = shape;
  const [pt, ph, pw] = latent.patchSize;
  const latentTokens = Math.ceil(t / pt) * Math.ceil(h / ph) * Math.ceil(w / pw);
  const denoiserCalls = request.steps * (request.guidance ? 2 : 1);
  return { latentTokens, denoiserCalls, tokenSteps: latentTokens * denoiserCalls, pixels: request.frames * request.width * request.height };
}

/** @throws ModelInputError unless latents are [1, C, T, h, w]; returns T. */
export function checkLatents(pkg: ModelPackage, latents: Tensor<'float32'>): number {
  const { channels } = pkg.manifest.latent;
  if (latents.dims.length !== 5 || latents.dims[0] !== 1 || latents.dims[1] !== channels) {
    throw new ModelInputError(`latents must have shape [1, ${channels}, T, h, w] but have [${latents.dims.join(', ')}]`);
  }
  return latents.dims[2];
}

/** The chunk size in latent frames. @throws ModelInputError unless a positive integer. */
export function chunkSize(options: ChunkOptions): number {
  const chunk = options.chunkFrames ?? 4;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ModelInputError(`chunkFrames must be a positive integer but is ${chunk}`);
  return chunk;
}

/**
 * Latent frames [before, after] of context each decoded chunk needs to come out as it would in a
 * whole-clip decode (the manifest's `latent.decoderContext`). A causal decoder turns the first
 * latent frame of a call into one frame, not k: a later chunk needs at least the latent frame
 * before it to come out with its k frames.
 */
export function decoderContextOf(latent: LatentFormat): [number, number] {
  const causal = latent.frameRule === 'causal';
  const [before, after] = latent.decoderContext ?? [causal ? 1 : 0, 0];
  return [causal ? Math.max(1, before) : before, after];
}

/**
 * Chunked decode: `chunkFrames` latent frames per call of `runDecoder` (raw latents → [1, 3, F, H, W]),
 * yielding each chunk when ready. Each chunk is decoded with {@link decoderContextOf} latent frames
 * around it and the frames those produce are dropped, so the result equals a whole-clip decode (no
 * seams at chunk borders) while each call holds at most chunk + context latent frames.
 */
export async function* decodeChunked(
  pkg: ModelPackage,
  latents: Tensor<'float32'>,
  options: ChunkOptions,
  runDecoder: (raw: Tensor<'float32'>) => Promise<Tensor<'float32'>>,
): AsyncGenerator<VideoChunk> {
  const frames = checkLatents(pkg, latents);
  const chunk = chunkSize(options);
  const latent = pkg.manifest.latent;
  const { scalingFactor, shiftFactor } = latent;
  const [before, after] = decoderContextOf(latent);
  let startFrame = 0;
  for (let start = 0; start < frames; start += chunk) {
    const end = Math.min(frames, start + chunk);
    const from = Math.max(0, start - before);
    const to = Math.min(frames, end + after);
    const part = slice(latents, 2, from, to);
    const raw = tensor(
      'float32',
      part.dims,
      part.data.map((v) => v / scalingFactor + shiftFactor),
    );
    let video = await runDecoder(raw);
    // Keep the frames of [start, end) only: those of the context are decoded again by their own chunk.
    const skip = from < start ? frameCountOf(latent, start - from) : 0;
    const keep = start === 0 ? frameCountOf(latent, end) : frameCountOf(latent, end) - frameCountOf(latent, start);
    video = slice(video, 2, skip, skip + keep);
    const rgb = videoToRgb(video, startFrame);
    startFrame += rgb.frames;
    yield rgb;
  }
}

/**
 * Chunked encode: RGB → normalised latents [1, C, T, h, w], `chunkFrames` latent frames per call of
 * `runEncoder` ([1, 3, F, H, W] → raw latents). Each chunk is encoded with the manifest's
 * `latent.encoderContext` latent frames around it and the latents those make are dropped, so the
 * result equals a whole-clip encode. A `causal` frame rule encodes in one call (its first latent
 * frame covers one video frame, so chunks would not line up).
 * @throws ModelInputError when the data length does not fit the size or the result has the wrong shape.
 */
export async function encodeChunked(
  pkg: ModelPackage,
  video: RgbFrames,
  options: ChunkOptions,
  dims: readonly number[],
  runEncoder: (input: Tensor<'float32'>) => Promise<Tensor<'float32'>>,
): Promise<Tensor<'float32'>> {
  if (video.data.length !== video.frames * video.width * video.height * 3) {
    throw new ModelInputError(
      `video data has ${video.data.length} bytes but ${video.frames} frames of ${video.width}×${video.height} RGB need ${video.frames * video.width * video.height * 3}`,
    );
  }
  const { scalingFactor, shiftFactor, frameRule, temporalCompression: k, channels, encoderContext } = pkg.manifest.latent;
  const latentFrames = dims[2] ?? 1;
  const chunk = frameRule === 'causal' ? latentFrames : chunkSize(options);
  const [before, after] = frameRule === 'causal' ? [0, 0] : (encoderContext ?? [0, 0]);
  const parts: Tensor<'float32'>[] = [];
  for (let start = 0; start < latentFrames; start += chunk) {
    const end = Math.min(latentFrames, start + chunk);
    const from = Math.max(0, start - before);
    const to = Math.min(latentFrames, end + after);
    const pixelTo = frameRule === 'causal' ? video.frames : to * k;
    let raw = await runEncoder(rgbToVideo(video, from * k, pixelTo));
    // Optimum's newer export returns mean ‖ log-variance; the mean is the deterministic encoding.
    if (raw.dims[1] === 2 * channels) raw = slice(raw, 1, 0, channels);
    // Keep the latents of [start, end) only: the context's are made again by their own chunk.
    if (from < start || to > end) raw = slice(raw, 2, start - from, end - from);
    parts.push(
      tensor(
        'float32',
        raw.dims,
        raw.data.map((v) => (v - shiftFactor) * scalingFactor),
      ),
    );
  }
  const latents = concat(parts, 2);
  checkDims('encoded latents', latents, dims);
  return latents;
}

/**
 * The flow-matching sampling loop every family shares: start from noise (or noised init latents
 * for video-to-video), one sampler step per timestep with a per-run state, a cancellation check and
 * a preview after each step. The family gives the velocity (its DiT call with CFG) and how known
 * frames are put back at a noise level (`withKnown`; at σ = 0 they come back exactly).
 * @throws the signal's reason when `options.signal` aborts
 */
export async function sampleFlow(
  sampler: FlowSampler,
  schedule: FlowSchedule,
  dims: readonly number[],
  noise: Float32Array,
  velocityAt: VelocityFn,
  withKnown: (sample: Float32Array, sigma: number) => Float32Array,
  options: Pick<DenoiseOptions, 'initLatents' | 'signal' | 'onStep'>,
): Promise<Tensor<'float32'>> {
  const sigma0 = schedule.sigmas[0]!;
  let x = options.initLatents ? mix(options.initLatents.data, 1 - sigma0, noise, sigma0) : noise;
  const total = schedule.timesteps.length;
  const state = sampler.createState();
  for (let i = 0; i < total; i++) {
    options.signal?.throwIfAborted();
    const { prevSample, denoised } = await sampler.step(velocityAt, x, schedule, i, state);
    x = prevSample;
    await options.onStep?.(i + 1, total, tensor('float32', dims, denoised));
  }
  return tensor('float32', dims, withKnown(x, 0));
}
