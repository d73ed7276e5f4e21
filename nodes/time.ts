// The time family: extend, image-to-video, connect, loop, video-to-video's helpers, trim, concat, fps.

import { defineNode, NodeInputError, type NodeContext } from '../engine/index.js';
import { concat } from '../models/tensor.js';
import { denoiseExtension, denoiseTransition } from '../models/windowed.js';
import type { SamplerName, VideoModel } from '../models/video-model.js';
import { carryAudio, videoFromChunks, VideoHandle, VideoWriter } from '../media/frames.js';
import { resizeImage } from '../media/image.js';
import { matchSeams } from '../media/seam.js';
import { samplingParams as baseSamplingParams, unconditional } from './sampling.js';
import type { ConditioningValue, ModelValue } from './values.js';
import { VAE_CHUNK_FRAMES } from './vae.js';

const samplingParams = {
  ...baseSamplingParams,
  seed: { ...baseSamplingParams.seed, description: 'Window n of a long generation uses seed + n.' },
} as const;

const generationInputs = {
  model: { type: 'MODEL' },
  positive: { type: 'CONDITIONING' },
  negative: { type: 'CONDITIONING', optional: true, description: 'Default: the empty prompt.' },
} as const;

interface Sampling {
  model: VideoModel;
  cond: ConditioningValue;
  uncond?: ConditioningValue;
  seed: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
}

/** The generation inputs and sampling params every generating node of this family takes. */
interface SamplingInputs {
  model: ModelValue;
  positive: ConditioningValue;
  negative: ConditioningValue | undefined;
  seed: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
}

async function samplingFrom(inputs: SamplingInputs): Promise<Sampling> {
  const model = inputs.model.model;
  const uncond = await unconditional(model, inputs.negative, inputs.guidance);
  return {
    model,
    cond: inputs.positive,
    ...(uncond ? { uncond } : {}),
    seed: inputs.seed,
    steps: inputs.steps,
    guidance: inputs.guidance,
    sampler: inputs.sampler,
  };
}

/** The sampling settings, seed, interrupt and progress every denoise call of this family passes. */
function denoiseBase(s: Sampling, seed: number, ctx: NodeContext, progress: (step: number, total: number) => void) {
  return {
    cond: s.cond,
    ...(s.uncond ? { uncond: s.uncond } : {}),
    guidance: s.guidance,
    steps: s.steps,
    sampler: s.sampler,
    seed,
    signal: ctx.signal,
    onStep: progress,
  };
}

/** The model's temporal step (frames per latent frame) and its native window length in frames. */
function timing(model: VideoModel): { step: number; window: number } {
  return { step: model.frameCount(2) - model.frameCount(1), window: model.manifest.defaults.frames };
}

/** Why `frames` is not a count on the model's time grid (`step` frames per latent frame), or undefined. Estimates check it before a run. */
export function offGridProblem(what: string, frames: number, step: number): string | undefined {
  return frames % step !== 0 || frames <= 0 ? `${what} must be a positive multiple of ${step} frames but is ${frames}` : undefined;
}

function checkMultiple(what: string, frames: number, step: number): void {
  const problem = offGridProblem(what, frames, step);
  if (problem) throw new NodeInputError(problem);
}

/** Why a clip of this size cannot go through a model that generates at `sizes` (its manifest's; none listed: any), or undefined. */
export function sizeProblem(what: string, video: { width: number; height: number }, sizes: ReadonlyArray<readonly [number, number]>): string | undefined {
  if (sizes.length === 0 || sizes.some(([w, h]) => w === video.width && h === video.height)) return undefined;
  const list = sizes.map(([w, h]) => `${w}×${h}`).join(', ');
  return `${what} is ${video.width}×${video.height}; the model generates at ${list} — resize it first (load-video width/height)`;
}

/** Why two clips cannot be joined (connect, concat): their sizes differ; or undefined. */
export function sizesDifferProblem(a: { width: number; height: number }, b: { width: number; height: number }): string | undefined {
  return a.width !== b.width || a.height !== b.height ? `the videos differ in size: ${a.width}×${a.height} and ${b.width}×${b.height}; resize one first` : undefined;
}

/** Why extend's `context` frames leave no new frame in the model's `window`-frame window, or undefined. */
export function contextRoomProblem(context: number, window: number): string | undefined {
  return context >= window ? `context of ${context} frames leaves no room for new frames in the model's ${window}-frame window` : undefined;
}

function checkModelSize(model: VideoModel, video: { width: number; height: number }, what: string): void {
  model.latentShape(video.width, video.height, model.frameCount(1));
  const problem = sizeProblem(what, video, Object.values(model.manifest.sizes ?? {}));
  if (problem) throw new NodeInputError(problem);
}

/** What {@link extendLatent} makes: `count` new frames on one side of `context`. */
interface LatentExtension {
  context: { data: Uint8Array; count: number };
  count: number;
  direction: 'forward' | 'backward';
  /**
   * Whether the decoded context frames come back too, in front of (forward) or after (backward)
   * the new ones: image-to-video's still does; extend's clip keeps its own frames. Default false.
   */
  keepContext?: boolean;
  /** The context frame (0-based) the output shows exactly. Default: the one next to the new frames. */
  anchor?: number;
}

/**
 * Generates `count` new frames after (forward) or before (backward) `context` in latent space: the
 * context is encoded once, the new latents are sampled window by window held to known latent
 * frames (models/windowed.ts, as the generator's long clips are), and the context and new latents
 * are decoded together so the decoder sees across the join. The decoded frames next to the join
 * are then seam-matched to the anchor frame of the context (media/seam.ts) over one native window.
 * No window goes back through the VAE, so a long extension keeps the prompt's colour and
 * background. Memory: the new latents and one window of frames; frames go to disk.
 * @returns the new frames, after the decoded context frames when `keepContext`
 */
async function extendLatent(s: Sampling, size: { width: number; height: number; fps: number }, job: LatentExtension, ctx: NodeContext): Promise<VideoHandle> {
  const { context, count, direction } = job;
  const m = s.model;
  const { window } = timing(m);
  const frameBytes = size.width * size.height * 3;
  const forward = direction === 'forward';
  const known = await m.encode({ frames: context.count, width: size.width, height: size.height, data: context.data });
  const fresh = await denoiseExtension(m, size.width, size.height, known, direction, {
    ...denoiseBase(s, s.seed, ctx, (step, total) => ctx.progress(step, total)),
    shape: m.latentShape(size.width, size.height, count),
  });
  // Only the context's latents go with the new ones into the decoder: decoding the clip's frames
  // beyond them too (its decoder context) made the join larger (#16 item 7, models/training/EVAL.md).
  const all = concat(forward ? [known, fresh] : [fresh, known], 2);
  const contextFrames = m.frameCount(known.dims[2]!); // decoded context frames
  const newFrames = m.frameCount(fresh.dims[2]!);
  // The seam is matched over the native window at the join: the context's frames and the new
  // frames next to them. The decoded context ends (forward) or starts (backward) at the join.
  const seamFrames = Math.min(window, contextFrames + newFrames);
  const anchorAt = job.anchor ?? (forward ? context.count - 1 : 0);
  const anchorIndex = forward ? anchorAt + contextFrames - context.count : seamFrames - contextFrames + anchorAt;
  const anchor = context.data.subarray(anchorAt * frameBytes, (anchorAt + 1) * frameBytes);
  const dropped = job.keepContext ? 0 : contextFrames;
  const store = new VideoWriter(size, { dir: ctx.tempDir });
  try {
    let at = 0; // decoded frames seen
    let flushed = false;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    // Forward: buffer the first `seamFrames` frames, match, then stream. Backward: stream all but
    // the last `seamFrames` frames (a rolling buffer), then match those at the end.
    const keepBytes = seamFrames * frameBytes;
    for await (const part of m.decode(all, { chunkFrames: VAE_CHUNK_FRAMES })) {
      ctx.signal?.throwIfAborted();
      at += part.frames;
      if (forward && flushed) {
        await store.append(part.data);
      } else if (forward) {
        pending.push(part.data);
        if (at >= seamFrames) {
          const head = Buffer.concat(pending);
          matchSeams(head.subarray(0, keepBytes), frameBytes, [{ index: anchorIndex, original: anchor }]);
          await store.append(head.subarray(dropped * frameBytes));
          pending = [];
          flushed = true;
        }
      } else {
        pending.push(part.data);
        pendingBytes += part.data.length;
        if (pendingBytes > keepBytes) {
          const joined = Buffer.concat(pending);
          await store.append(joined.subarray(0, joined.length - keepBytes));
          pending = [joined.subarray(joined.length - keepBytes)];
          pendingBytes = keepBytes;
        }
      }
    }
    if (!forward) {
      const tail = Buffer.concat(pending);
      matchSeams(tail, frameBytes, [{ index: anchorIndex, original: anchor }]);
      await store.append(tail.subarray(0, tail.length - dropped * frameBytes));
    }
  } catch (error) {
    await store.discard();
    throw error;
  }
  return store.finish();
}

/** The frames extend and image-to-video make for `seconds`: a multiple of the model's time step (admission estimates the same). */
export function framesFor(seconds: number, fps: number, step: number): number {
  return Math.max(step, Math.round((seconds * fps) / step) * step);
}

export const extendNode = defineNode({
  type: 'extend',
  version: 1,
  aliases: ['continue', 'outpaint time', 'longer'],
  category: 'time',
  description:
    "Extends a video forward or backward in time: its last (or first) frames are encoded once and held fixed as known latent frames, and the new ones are sampled window by window in latent space, as long generations are, then decoded with the context's latents so the decoder sees across the join. No window goes back through the VAE, so a long extension keeps the prompt's colour and background; memory stays flat. The video's frames come back unchanged and its sound stays under them; the new frames are silent.",
  inputs: { ...generationInputs, video: { type: 'VIDEO' } },
  params: {
    direction: { kind: 'enum', default: 'forward', choices: ['forward', 'backward'] },
    seconds: { kind: 'float', default: 2, min: 0.5, max: 120, step: 0.5, description: 'How much to add.' },
    context: {
      kind: 'int',
      default: 8,
      min: 4,
      max: 64,
      step: 4,
      description: "Frames of the video the model sees (a multiple of the model time step, less than its window); later windows are held to the model's own windowed context.",
    },
    ...samplingParams,
  },
  outputs: { video: { type: 'VIDEO' } },
  run: async (inputs, ctx) => {
    const s = await samplingFrom(inputs);
    const video = inputs.video;
    const { step, window } = timing(s.model);
    const contextCount = inputs.context;
    checkModelSize(s.model, video, 'the video');
    checkMultiple('context', contextCount, step);
    const noRoom = contextRoomProblem(contextCount, window);
    if (noRoom) throw new NodeInputError(noRoom);
    if (video.frameCount < contextCount) throw new NodeInputError(`the video has ${video.frameCount} frames, fewer than the ${contextCount} context frames`);
    const forward = inputs.direction === 'forward';
    const start = forward ? video.frameCount - contextCount : 0;
    const context = { data: await video.read(start, contextCount), count: contextCount };
    const added = await extendLatent(s, video, { context, count: framesFor(inputs.seconds, video.fps, step), direction: forward ? 'forward' : 'backward' }, ctx);
    return { video: VideoHandle.concat(forward ? [video, added] : [added, video]) };
  },
});

export const imageToVideoNode = defineNode({
  type: 'image-to-video',
  version: 1,
  aliases: ['i2v', 'animate', 'img2vid'],
  category: 'time',
  description:
    "Animates a still image from a prompt: the image is the first frame and the model generates what follows. Clips longer than the model's window are sampled window by window in latent space, each window held to the last latent frame made, as long generations are, so the prompt's colour and background hold and memory stays flat.",
  inputs: { ...generationInputs, image: { type: 'IMAGE' } },
  params: {
    seconds: { kind: 'float', default: 2, min: 0.5, max: 120, step: 0.5 },
    fps: { kind: 'int', default: 8, min: 1, max: 60 },
    fit: { kind: 'enum', default: 'crop', choices: ['crop', 'pad', 'stretch'], description: "How the image meets the model's size." },
    ...samplingParams,
  },
  outputs: { video: { type: 'VIDEO' } },
  run: async (inputs, ctx) => {
    const s = await samplingFrom(inputs);
    const { step } = timing(s.model);
    const image = inputs.image;
    const fps = inputs.fps;
    const [width, height] = nativeSizeFor(s.model, image.width / image.height);
    const still = await resizeImage(image, width, height, inputs.fit);
    const total = framesFor(inputs.seconds, fps, step);
    // The still fills the first latent frame (a static run of `step` frames); the model moves it on,
    // in latent windows as extend does, however long the clip.
    const head = Buffer.concat(Array.from({ length: step }, () => still.data));
    const size = { width, height, fps };
    if (total === step) return { video: await videoFromChunks([head], size, { dir: ctx.tempDir }) };
    // The still itself is the first frame (the seam anchor): the VAE only approximates it, and
    // users expect their image back exactly where the clip starts.
    const job = { context: { data: head, count: step }, count: total - step, direction: 'forward', keepContext: true, anchor: 0 } as const;
    return { video: await extendLatent(s, size, job, ctx) };
  },
});

/** The model's native size closest in aspect ratio to `ratio` (width / height). */
function nativeSizeFor(model: VideoModel, ratio: number): [number, number] {
  const sizes = Object.values(model.manifest.sizes ?? {});
  if (sizes.length === 0) return [model.manifest.defaults.width, model.manifest.defaults.height];
  return sizes.reduce((best, s) => (Math.abs(Math.log(s[0] / s[1] / ratio)) < Math.abs(Math.log(best[0] / best[1] / ratio)) ? s : best));
}

/**
 * Generates the frames between the end of `a` and the start of `b` in latent space: the context
 * frames of each side are encoded once, the new latents are sampled between them through the
 * model's native window (models/windowed.ts `denoiseTransition`: the first half forward from `a`,
 * the second backward from `b`, then both together as one bridge held at both ends, partly
 * noised), and [head | new | tail] is decoded together, then seam-matched to both clips' frames
 * at the joins (media/seam.ts). Memory: the latents and the transition's frames.
 */
async function transition(s: Sampling, a: VideoHandle, b: VideoHandle, contextCount: number, frames: number, ctx: NodeContext): Promise<VideoHandle> {
  const m = s.model;
  const { step } = timing(m);
  // A loop is a transition from a clip to itself: one video to name.
  const names = a === b ? ['the video'] : ['the first video', 'the second video'];
  checkModelSize(m, a, names[0]!);
  const differ = sizesDifferProblem(a, b);
  if (differ) throw new NodeInputError(differ);
  checkMultiple('context', contextCount, step);
  checkMultiple('the transition', frames, step);
  for (const [i, name] of names.entries()) {
    const v = i === 0 ? a : b;
    if (v.frameCount < contextCount) throw new NodeInputError(`${name} has ${v.frameCount} frames, fewer than the ${contextCount} context frames`);
  }
  const size = { width: a.width, height: a.height };
  const frameBytes = a.width * a.height * 3;
  const before = await a.read(a.frameCount - contextCount, contextCount);
  const after = await b.read(0, contextCount);
  const head = await m.encode({ frames: contextCount, ...size, data: before });
  const tail = await m.encode({ frames: contextCount, ...size, data: after });
  const fresh = await denoiseTransition(m, a.width, a.height, head, tail, {
    ...denoiseBase(s, s.seed, ctx, (x, y) => ctx.progress(x, y)),
    shape: m.latentShape(a.width, a.height, frames),
  });
  // Keep the transition and the decoded frame of each clip next to it (the seam anchors).
  const first = m.frameCount(head.dims[2]!) - 1;
  const kept: Uint8Array[] = [];
  let at = 0;
  for await (const part of m.decode(concat([head, fresh, tail], 2), { chunkFrames: VAE_CHUNK_FRAMES })) {
    ctx.signal?.throwIfAborted();
    const from = Math.max(first, at);
    const to = Math.min(first + frames + 2, at + part.frames);
    if (to > from) kept.push(part.data.subarray((from - at) * frameBytes, (to - at) * frameBytes));
    at += part.frames;
  }
  const window = Buffer.concat(kept);
  matchSeams(window, frameBytes, [
    { index: 0, original: before.subarray((contextCount - 1) * frameBytes) },
    { index: frames + 1, original: after.subarray(0, frameBytes) },
  ]);
  return videoFromChunks([window.subarray(frameBytes, (frames + 1) * frameBytes)], a, { dir: ctx.tempDir });
}

const transitionParams = {
  context: { kind: 'int', default: 4, min: 4, max: 32, step: 4, description: 'Frames of each side the model sees.' },
  frames: { kind: 'int', default: 8, min: 4, max: 64, step: 4, description: 'Length of the generated transition.' },
  ...samplingParams,
} as const;

export const connectNode = defineNode({
  type: 'connect',
  version: 1,
  category: 'time',
  description:
    "Joins two clips with a generated transition from the end of the first to the start of the second; each clip keeps its sound, the transition is silent. The transition's first half continues the first clip, its second half leads into the second, and the two are then sampled again together, held at both ends, so they meet (three passes: about 2.5× the steps of one). Longer than the model's window, each pass goes window by window.",
  inputs: { ...generationInputs, first: { type: 'VIDEO' }, second: { type: 'VIDEO' } },
  params: transitionParams,
  outputs: { video: { type: 'VIDEO' } },
  run: async (inputs, ctx) => {
    const s = await samplingFrom(inputs);
    const a = inputs.first;
    const b = inputs.second;
    const middle = await transition(s, a, b, inputs.context, inputs.frames, ctx);
    return { video: VideoHandle.concat([a, middle, b]) };
  },
});

export const loopNode = defineNode({
  type: 'loop',
  version: 1,
  category: 'time',
  description:
    "Makes a seamless loop: a transition from the end of the clip back to its start is generated and appended (silent; the clip keeps its sound). Its first half continues the clip's end, its second half leads into the clip's start, and the two are then sampled again together so they meet (about 2.5× the steps of one pass). Longer than the model's window, each pass goes window by window.",
  inputs: { ...generationInputs, video: { type: 'VIDEO' } },
  params: transitionParams,
  outputs: { video: { type: 'VIDEO' } },
  run: async (inputs, ctx) => {
    const s = await samplingFrom(inputs);
    const v = inputs.video;
    const closing = await transition(s, v, v, inputs.context, inputs.frames, ctx);
    return { video: VideoHandle.concat([v, closing]) };
  },
});

export const trimNode = defineNode({
  type: 'trim',
  version: 1,
  aliases: ['cut'],
  category: 'time',
  description: 'Keeps a part of a video, by seconds, with its sound (no copying: the frames are shared).',
  inputs: { video: { type: 'VIDEO' } },
  params: {
    start: { kind: 'float', default: 0, min: 0, max: 100000, step: 0.125, description: 'Seconds to skip.' },
    duration: { kind: 'float', default: 0, min: 0, max: 100000, step: 0.125, description: 'Seconds to keep; 0 keeps the rest.' },
  },
  outputs: { video: { type: 'VIDEO' } },
  run: ({ video, start, duration }) => {
    const v = video;
    const first = Math.round(start * v.fps);
    if (first >= v.frameCount) throw new NodeInputError(`start ${start} s is past the end of the ${v.duration.toFixed(2)} s video`);
    const count = duration > 0 ? Math.min(v.frameCount - first, Math.round(duration * v.fps)) : v.frameCount - first;
    return { video: v.slice(first, Math.max(1, count)) };
  },
});

export const concatNode = defineNode({
  type: 'concat',
  version: 1,
  aliases: ['join', 'append'],
  category: 'time',
  description: 'Plays one video after another (same size and frame rate); their sounds follow, silence under a video without any.',
  inputs: { first: { type: 'VIDEO' }, second: { type: 'VIDEO' } },
  outputs: { video: { type: 'VIDEO' } },
  run: ({ first, second }) => {
    const a = first;
    const b = second;
    const differ = sizesDifferProblem(a, b);
    if (differ) throw new NodeInputError(differ);
    if (a.fps !== b.fps) throw new NodeInputError(`the videos differ in frame rate: ${a.fps} and ${b.fps} fps; change one with an fps node first`);
    return { video: VideoHandle.concat([a, b]) };
  },
});

export const fpsNode = defineNode({
  type: 'fps',
  version: 1,
  displayName: 'FPS',
  aliases: ['frame rate', 'retime'],
  category: 'time',
  description: 'Changes the frame rate by dropping or repeating frames; the duration and the sound stay the same.',
  inputs: { video: { type: 'VIDEO' } },
  params: { fps: { kind: 'float', default: 24, min: 1, max: 120 } },
  outputs: { video: { type: 'VIDEO' } },
  run: async ({ video, fps }, ctx) => {
    const v = video;
    const target = fps;
    const count = Math.max(1, Math.round((v.frameCount * target) / v.fps));
    const writer = new VideoWriter({ width: v.width, height: v.height, fps: target }, { dir: ctx.tempDir });
    try {
      for (let i = 0; i < count; i++) {
        if (i % 64 === 0) ctx.progress(i, count);
        // Output frame i shows the source frame on screen at its time (nearest, never past the end).
        const source = Math.min(v.frameCount - 1, Math.floor(((i + 0.5) * v.fps) / target));
        await writer.append(await v.read(source, 1));
      }
      // The duration stays, so the sound does too.
      return { video: await carryAudio(await writer.finish(), v) };
    } catch (error) {
      await writer.discard();
      throw error;
    }
  },
});

export const timeNodes = [extendNode, imageToVideoNode, connectNode, loopNode, trimNode, concatNode, fpsNode];
