// The built-in node families' cost estimates for admission control (engine/admission.ts), one table keyed by node type.

import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  DEFAULT_MODEL_COSTS,
  isMedia,
  isModel,
  latentTokens,
  mediaCosts,
  rgbBytes,
  type Cost,
  type EstimatedValue,
  type EstimateProblem,
  type Estimator,
  type MediaEstimate,
  type ModelEstimate,
  type NodeDefinition,
  type NodeEstimate,
} from '../engine/index.js';
import { listModels } from '../models/package.js';
import { harmonisingSteps, planTransition, windowContext, windowCount } from '../models/windowed.js';
import { modelHost } from './services.js';
import { nearestFrameCount } from './latent.js';
import { contextRoomProblem, framesFor, offGridProblem, sizeProblem, sizesDifferProblem } from './time.js';
import { RESIZE_PRESETS } from './upscale.js';

/**
 * A MODEL value's cost factors, plus the native sizes of its aspect presets and the bytes of its
 * text encoder's files (weights it holds while encoding: ~13 GB for Wan's umt5-xxl).
 */
export type ModelCosts = ModelEstimate & {
  sizes?: Record<string, [number, number]>;
  textEncoderBytes?: number;
  /** The frame counts the model makes: first, first + step, first + 2 step, … (its latent frame rule). */
  frameGrid?: { first: number; step: number };
  /** Its default frame count (manifest defaults.frames): the window extend's context must leave room in. */
  nativeFrames?: number;
};

/** Bytes of the files in a component's folder (the graph and its external weights). */
async function folderBytes(dir: string): Promise<number | undefined> {
  try {
    let bytes = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) if (entry.isFile()) bytes += (await stat(join(dir, entry.name))).size;
    return bytes;
  } catch {
    return undefined;
  }
}

/**
 * Cost factors of a model package by name: its manifest's latent format when it is installed and
 * has one, else the defaults (a folder path, a family without a skyloom.json).
 */
export async function modelCosts(name: string, searchPaths?: readonly string[]): Promise<ModelCosts> {
  const base: ModelCosts = { kind: 'model', name, ...DEFAULT_MODEL_COSTS };
  const found = (await listModels(searchPaths ? { searchPaths } : {})).find((m) => m.name === name);
  if (!found) return base;
  try {
    const manifest = JSON.parse(await readFile(join(found.dir, 'skyloom.json'), 'utf8')) as {
      latent?: { spatialCompression?: number; temporalCompression?: number; patchSize?: [number, number, number]; frameRule?: 'multiple' | 'causal' };
      sizes?: Record<string, [number, number]>;
      defaults?: { frames?: number };
      components?: { text_encoder?: { file?: string }; transformer?: { inputs?: Record<string, string> } };
    };
    const l = manifest.latent ?? {};
    const window = nativeWindowOf(manifest.defaults?.frames, l.temporalCompression, l.frameRule, manifest.components?.transformer?.inputs?.['cond_latents'] !== undefined);
    const encoderFile = manifest.components?.text_encoder?.file;
    const textEncoderBytes = typeof encoderFile === 'string' ? await folderBytes(join(found.dir, dirname(encoderFile))) : undefined;
    return {
      ...base,
      ...(l.spatialCompression ? { spatialCompression: l.spatialCompression } : {}),
      ...(l.temporalCompression ? { temporalCompression: l.temporalCompression } : {}),
      ...(l.patchSize ? { patchSize: l.patchSize } : {}),
      ...(manifest.sizes ? { sizes: manifest.sizes } : {}),
      ...(textEncoderBytes ? { textEncoderBytes } : {}),
      ...(window ? { window } : {}),
      ...(manifest.defaults?.frames ? { nativeFrames: manifest.defaults.frames } : {}),
      ...(l.temporalCompression && l.frameRule ? { frameGrid: { first: l.frameRule === 'causal' ? 1 : l.temporalCompression, step: l.temporalCompression } } : {}),
    };
  } catch {
    return base;
  }
}

/**
 * The native window a model samples long latents in (models/windowed.ts), from its manifest: only
 * a model that takes known frames windows; the window is its default frame count in latent frames.
 */
function nativeWindowOf(frames: number | undefined, compression: number | undefined, frameRule: string | undefined, takesKnown: boolean): ModelEstimate['window'] {
  if (!takesKnown || !frames || !compression) return undefined;
  const latentFrames = frameRule === 'causal' ? 1 + Math.ceil((frames - 1) / compression) : Math.ceil(frames / compression);
  return latentFrames > 1 ? { latentFrames, context: windowContext(latentFrames) } : undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const media = (width: number, height: number, frames: number, fps?: number, approximate?: boolean): MediaEstimate => ({
  kind: 'media',
  width,
  height,
  frames,
  ...(fps ? { fps } : {}),
  ...(approximate ? { approximate: true as const } : {}),
});
/** Whether any of these estimates has an approximate frame count (so does what is made from them). */
const roughly = (...values: (MediaEstimate | undefined)[]) => values.some((v) => v?.approximate);
const frameGridOf = (model: EstimatedValue | undefined) => (isModel(model) ? (model as ModelCosts).frameGrid : undefined);

/** The frames extend and image-to-video make for `seconds` (exact when the model's time step is known). */
function generatedFrames(seconds: number, fps: number, model: EstimatedValue | undefined): { frames: number; approximate: boolean } {
  const step = frameGridOf(model)?.step;
  if (step === undefined) return { frames: Math.round(seconds * fps), approximate: true };
  return { frames: framesFor(seconds, fps, step), approximate: false };
}

/** A problem for each clip with an exact frame count shorter than the `context` frames a node reads from it. */
function contextProblems(context: number | undefined, clips: [MediaEstimate | undefined, string][]): EstimateProblem[] {
  if (context === undefined) return [];
  return clips
    .filter(([clip]) => clip && !clip.approximate && clip.frames < context)
    .map(([clip, name]) => ({ message: `${name} has ${clip!.frames} frames, fewer than the ${context} context frames`, param: 'context' }));
}

/**
 * What the time nodes refuse at run time (nodes/time.ts) that an estimate can see once the model's
 * manifest is read: frame counts off its time grid (`counts`: what, frames, param) and clips not at
 * one of its sizes (`clips`: clip, what, input). Nothing when the model is not installed.
 */
function modelProblems(
  model: EstimatedValue | undefined,
  counts: Array<[string, number | undefined, string]>,
  clips: Array<[MediaEstimate | undefined, string, string]>,
): EstimateProblem[] {
  if (!isModel(model)) return [];
  const { frameGrid, sizes } = model as ModelCosts;
  const problems: EstimateProblem[] = [];
  for (const [what, frames, param] of counts) {
    const message = frameGrid && frames !== undefined ? offGridProblem(what, frames, frameGrid.step) : undefined;
    if (message) problems.push({ message, param });
  }
  for (const [clip, what, param] of clips) {
    const message = clip && sizes ? sizeProblem(what, clip, Object.values(sizes)) : undefined;
    if (message) problems.push({ message, param });
  }
  return problems;
}

/** A value node passes its value on, so a param linked from it is checked like a widget. */
const passValue =
  (output: string): Estimator =>
  (params) => ({ outputs: { [output]: params.value as number | string } });

/**
 * The sampler's cost: tokens × steps (twice with guidance) and attention scores of one head. A
 * model with a native window samples a longer latent window by window (models/windowed.ts): the
 * attention is one window's, and the work every window's tokens, context included. `bridge`: the
 * frames of context at each end of `latent`, between which connect and loop sample their
 * transition in three passes (models/windowed.ts planTransition): its halves from each end, then
 * the bridge over both at fewer steps; every window counted full.
 */
function samplingCosts(latent: MediaEstimate, model: ModelEstimate | undefined, params: Record<string, unknown>, param: string, bridge?: { head: number; tail: number }): Cost[] {
  const m = model ?? { ...DEFAULT_MODEL_COSTS };
  const tokens = latentTokens(latent, m);
  const latentFrames = Math.ceil(latent.frames / m.temporalCompression / m.patchSize[0]);
  const perFrame = tokens / latentFrames;
  let windowed = m.window && latentFrames > m.window.latentFrames ? m.window : undefined;
  let windows = windowed ? windowCount(latentFrames, windowed.latentFrames, windowed.context) : 1;
  // A transition that meets in the middle samples its halves' windows first (`windows` is then the bridge's).
  let halves: number | undefined;
  if (bridge) {
    // connect and loop: `latent` is the sampled window, the clips' context frames at both ends of it.
    const [k1, k2] = [bridge.head, bridge.tail].map((f) => Math.ceil(f / m.temporalCompression / m.patchSize[0]));
    const plan = m.window ? planTransition(k1!, latentFrames - k1! - k2!, k2!, m.window.latentFrames, m.window.context) : undefined;
    windows = plan ? plan.bridge.length : 1;
    windowed = windows > 1 ? m.window : undefined;
    if (plan && plan.forward > 0) halves = plan.forwardWindows + plan.backwardWindows;
  }
  const steps = num(params.steps);
  const perWindow = windowed ? perFrame * windowed.latentFrames : tokens;
  const guided = num(params.guidance) !== 1;
  const where = `${latent.width}×${latent.height}, ${latent.frames} frames`;
  const costs: Cost[] = [
    {
      measure: 'memoryBytes',
      amount: perWindow * perWindow * m.attentionBytesPerPair,
      param,
      detail: windowed
        ? `Attention over ${perWindow.toLocaleString('en-US')} latent tokens (one ${windowed.latentFrames}-latent-frame window of ${windows.toLocaleString('en-US')}; ${where})`
        : `Attention over ${tokens.toLocaleString('en-US')} latent tokens (${where})`,
    },
  ];
  if (steps !== undefined) {
    const times = guided ? 2 : 1;
    const twice = guided ? ' × 2 (guidance)' : '';
    const counted = (n: number) =>
      windowed || halves !== undefined ? `${n.toLocaleString('en-US')} window${n === 1 ? '' : 's'} × ${perWindow.toLocaleString('en-US')}` : tokens.toLocaleString('en-US');
    if (halves === undefined) {
      costs.push({ measure: 'work', amount: perWindow * windows * steps * times, param: 'steps', detail: `${counted(windows)} latent tokens × ${steps} steps${twice}` });
    } else {
      const meeting = harmonisingSteps(steps);
      costs.push({
        measure: 'work',
        amount: perWindow * (halves * steps + windows * meeting) * times,
        param: 'steps',
        detail: `${counted(halves)} latent tokens × ${steps} steps${twice} (the transition's halves), then ${counted(windows)} × ${meeting} steps${twice} (where they meet)`,
      });
    }
  }
  return costs;
}

/** Output nodes embed the whole workflow as one metadata value (mp4, webm and PNG do; gif, JPEG and WebP do not). */
const embedsWorkflow: Estimator = (params, _inputs, env) => {
  // The video's own size was counted where it was made.
  const costs: Cost[] = [];
  if (params.format !== 'gif' && params.format !== 'jpeg' && params.format !== 'webp') {
    costs.push({ measure: 'metadataBytes', amount: env.workflowBytes, detail: 'The workflow embedded in the output file' });
  }
  return { costs };
};

/**
 * Frames a time node generates: the sampler's costs plus their frame store. `held`: frames of the
 * input the first window holds as known frames (extend's context), sampled with the new ones.
 */
function generated(
  params: Record<string, unknown>,
  inputs: Record<string, EstimatedValue | undefined>,
  size: MediaEstimate | undefined,
  frames: number | undefined,
  held = 0,
  approximate = false,
): { out?: MediaEstimate; costs: Cost[] } {
  if (!size || frames === undefined) return { costs: [] };
  const out = media(size.width, size.height, frames, size.fps, approximate);
  const model = isModel(inputs.model) ? inputs.model : undefined;
  return {
    out,
    costs: [
      ...samplingCosts(media(size.width, size.height, frames + held, size.fps), model, params, 'seconds'),
      { measure: 'tempBytes', amount: rgbBytes(out), param: 'seconds', detail: `${frames} generated frames of ${out.width}×${out.height}` },
    ],
  };
}

/**
 * connect and loop: one generated window between the end of `first` and the start of `second`, and
 * the clip it makes (first, transition, then second unless `second` is `first` again, as in a loop).
 */
function transitionEstimate(
  params: Record<string, unknown>,
  inputs: Record<string, EstimatedValue | undefined>,
  first: EstimatedValue | undefined,
  second: EstimatedValue | undefined,
  loops: boolean,
): NodeEstimate {
  const context = num(params.context);
  const frames = num(params.frames);
  if (!isMedia(first) || !isMedia(second) || context === undefined || frames === undefined) return {};
  const window = media(first.width, first.height, 2 * context + frames, first.fps);
  const model = isModel(inputs.model) ? inputs.model : undefined;
  const total = media(first.width, first.height, first.frames + frames + (loops ? 0 : second.frames), first.fps, roughly(first, second));
  const clips: [MediaEstimate, string][] = loops
    ? [[first, 'the video']]
    : [
        [first, 'the first video'],
        [second, 'the second video'],
      ];
  const differ = loops ? undefined : sizesDifferProblem(first, second);
  const onGrid: Array<[string, number, string]> = [
    ['context', context, 'context'],
    ['the transition', frames, 'frames'],
  ];
  return {
    outputs: { video: total },
    problems: [
      ...modelProblems(inputs.model, onGrid, [[first, loops ? 'the video' : 'the first video', loops ? 'video' : 'first']]),
      ...(differ ? [{ message: differ, param: 'second' }] : []),
      ...contextProblems(context, clips),
    ],
    costs: [
      ...samplingCosts(window, model, params, 'frames', { head: context, tail: context }),
      { measure: 'tempBytes', amount: rgbBytes(media(first.width, first.height, frames)), param: 'frames', detail: `${frames} generated frames of ${first.width}×${first.height}` },
      ...mediaCosts(total, 'frames'),
    ],
  };
}

export const ESTIMATES: Record<string, Estimator> = {
  int: passValue('value'),
  float: passValue('value'),
  text: (params) => ({ outputs: { text: params.value as string } }),
  prompt: (params) => ({ outputs: { text: params.text as string } }),
  seed: (params) => ({ outputs: { seed: params.seed as number } }),

  // Looked up where the run will look: the host's search paths.
  'load-model': async (params, _inputs, env) =>
    typeof params.name === 'string' ? { outputs: { model: await modelCosts(params.name, modelHost({ services: env.services ?? {} }).searchPaths) } } : {},

  'empty-latent': (params, inputs) => {
    const model = inputs.model as ModelCosts | undefined;
    const custom = params.aspect === 'custom';
    const size = custom ? [num(params.width), num(params.height)] : (model?.sizes?.[String(params.aspect)] ?? [undefined, undefined]);
    const [w, h] = size;
    const fps = num(params.fps);
    // Seconds are rounded to the nearest length the model makes (nodes/latent.ts), exact when its frame grid is known.
    const grid = model?.frameGrid;
    const wanted = num(params.seconds) !== undefined && fps !== undefined ? Math.round(num(params.seconds)! * fps) : undefined;
    const rounded = grid && wanted !== undefined ? nearestFrameCount(wanted, grid.first, grid.step) : wanted;
    const frames = num(params.frames) ? num(params.frames) : rounded;
    if (w === undefined || h === undefined || frames === undefined) return {};
    const latent = media(w, h, frames, fps, !num(params.frames) && !grid);
    const sizeParam = custom ? 'width' : 'aspect';
    const lengthParam = num(params.frames) ? 'frames' : 'seconds';
    return {
      outputs: { latent },
      costs: [
        { measure: 'pixels', amount: w * h, param: sizeParam, detail: `${w}×${h} per frame` },
        { measure: 'frames', amount: frames, param: lengthParam, detail: `${frames} frames` },
        ...(fps ? [{ measure: 'videoSeconds' as const, amount: frames / fps, param: lengthParam, detail: `${frames} frames at ${fps} fps` }] : []),
      ],
    };
  },

  'dit-sampler': (params, inputs) => {
    if (!isMedia(inputs.latent)) return {};
    return { outputs: { latent: inputs.latent }, costs: samplingCosts(inputs.latent, isModel(inputs.model) ? inputs.model : undefined, params, 'latent') };
  },

  'vae-decode': (_params, inputs) => {
    if (!isMedia(inputs.latent)) return {};
    const video = inputs.latent;
    return {
      outputs: { video },
      costs: [{ measure: 'tempBytes', amount: rgbBytes(video), param: 'latent', detail: `${video.frames} decoded frames of ${video.width}×${video.height}` }],
    };
  },

  // The encoder reads the whole clip into memory.
  'vae-encode': (_params, inputs) => {
    if (!isMedia(inputs.video)) return {};
    const v = inputs.video;
    return {
      outputs: { latent: v },
      costs: [{ measure: 'memoryBytes', amount: rgbBytes(v), param: 'video', detail: `${v.frames} frames of ${v.width}×${v.height} held to encode` }],
    };
  },

  // The frame count is the file's, known only once it is read: the size is what can be checked now.
  'load-video': (params) => {
    const w = num(params.width) ?? 0;
    const h = num(params.height) ?? 0;
    if (w === 0 || h === 0) return {};
    return { costs: [{ measure: 'pixels', amount: w * h, param: 'width', detail: `Resizing to ${w}×${h} per frame` }] };
  },
  'load-image': (params) => {
    const w = num(params.width) ?? 0;
    const h = num(params.height) ?? 0;
    if (w === 0 || h === 0) return {};
    return { outputs: { image: media(w, h, 1) }, costs: [{ measure: 'pixels', amount: w * h, param: 'width', detail: `Resizing to ${w}×${h}` }] };
  },

  upscale: (params, inputs) => {
    const scale = Number(/(\d+)x$/.exec(String(params.model))?.[1] ?? NaN);
    if (!isMedia(inputs.video) || !Number.isFinite(scale)) return {};
    const v = inputs.video;
    const out = media(v.width * scale, v.height * scale, v.frames, v.fps, v.approximate);
    return {
      outputs: { video: out },
      costs: [
        { measure: 'pixels', amount: out.width * out.height, param: 'model', detail: `Upscaling ${v.width}×${v.height} ${scale}× to ${out.width}×${out.height} per frame` },
        { measure: 'tempBytes', amount: rgbBytes(out), param: 'model', detail: `${out.frames} upscaled frames of ${out.width}×${out.height}` },
      ],
    };
  },
  resize: (params, inputs) => {
    const preset = String(params.preset);
    const [w, h] = preset === 'custom' || !(RESIZE_PRESETS as readonly string[]).includes(preset) ? [num(params.width), num(params.height)] : preset.split('x').map(Number);
    if (w === undefined || h === undefined) return {};
    const param = preset === 'custom' ? 'width' : 'preset';
    const costs: Cost[] = [{ measure: 'pixels', amount: w * h, param, detail: `Resizing to ${w}×${h} per frame` }];
    if (!isMedia(inputs.video)) return { costs };
    const out = media(w, h, inputs.video.frames, inputs.video.fps, inputs.video.approximate);
    costs.push({ measure: 'tempBytes', amount: rgbBytes(out), param, detail: `${out.frames} resized frames of ${w}×${h}` });
    return { outputs: { video: out }, costs };
  },

  extend: (params, inputs) => {
    const v = isMedia(inputs.video) ? inputs.video : undefined;
    const seconds = num(params.seconds);
    const added = v?.fps && seconds !== undefined ? generatedFrames(seconds, v.fps, inputs.model) : undefined;
    const { out, costs } = generated(params, inputs, v, added?.frames, num(params.context) ?? 0, added?.approximate);
    const context = num(params.context);
    const window = isModel(inputs.model) ? (inputs.model as ModelCosts).nativeFrames : undefined;
    const noRoom = context !== undefined && window !== undefined ? contextRoomProblem(context, window) : undefined;
    const problems = [
      ...modelProblems(inputs.model, [['context', context, 'context']], [[v, 'the video', 'video']]),
      ...(noRoom ? [{ message: noRoom, param: 'context' }] : []),
      ...contextProblems(context, [[v, 'the video']]),
    ];
    if (!v || !out) return { costs, problems };
    const total = media(v.width, v.height, v.frames + out.frames, v.fps, roughly(v, out));
    return { outputs: { video: total }, costs: [...costs, ...mediaCosts(total, 'seconds')], problems };
  },
  'image-to-video': (params, inputs) => {
    const image = isMedia(inputs.image) ? inputs.image : undefined;
    const fps = num(params.fps);
    const seconds = num(params.seconds);
    const made = fps !== undefined && seconds !== undefined ? generatedFrames(seconds, fps, inputs.model) : undefined;
    const { out, costs } = generated(params, inputs, image ? media(image.width, image.height, 1, fps) : undefined, made?.frames, 0, made?.approximate);
    return out ? { outputs: { video: out }, costs: [...costs, ...mediaCosts(out, 'seconds')] } : { costs };
  },
  // The text encoder's weights are in memory while it runs (the stage a large family loads first).
  'text-encode': (_params, inputs) => {
    const bytes = (inputs.model as ModelCosts | undefined)?.textEncoderBytes;
    if (!isModel(inputs.model) || bytes === undefined) return {};
    return { costs: [{ measure: 'memoryBytes', amount: bytes, param: 'model', detail: `The text encoder of ${inputs.model.name} (its weights, held while encoding)` }] };
  },
  // One window: `context` frames of each side around the generated `frames`.
  connect: (params, inputs) => transitionEstimate(params, inputs, inputs.first, inputs.second, false),
  loop: (params, inputs) => transitionEstimate(params, inputs, inputs.video, inputs.video, true),
  concat: (_params, inputs) => {
    if (!isMedia(inputs.first) || !isMedia(inputs.second)) return {};
    const out = media(inputs.first.width, inputs.first.height, inputs.first.frames + inputs.second.frames, inputs.first.fps, roughly(inputs.first, inputs.second));
    return { outputs: { video: out }, costs: mediaCosts(out, 'second') };
  },
  // At most the input's frames: a bound, not a count.
  trim: (_params, inputs) => (isMedia(inputs.video) ? { outputs: { video: { ...inputs.video, approximate: true } } } : {}),
  fps: (params, inputs) => {
    const fps = num(params.fps);
    if (!isMedia(inputs.video) || !inputs.video.fps || fps === undefined) return {};
    const v = inputs.video;
    const out = media(v.width, v.height, Math.max(1, Math.round((v.frames * fps) / v.fps!)), fps, true);
    return {
      outputs: { video: out },
      costs: [...mediaCosts(out, 'fps'), { measure: 'tempBytes', amount: rgbBytes(out), param: 'fps', detail: `${out.frames} frames at ${fps} fps` }],
    };
  },

  'save-video': embedsWorkflow,
  'save-image': embedsWorkflow,
};

/** The definition with its family's estimate attached (a definition's own estimate wins). */
export function withEstimate(definition: NodeDefinition): NodeDefinition {
  const estimate = definition.estimate ?? (Object.hasOwn(ESTIMATES, definition.type) ? ESTIMATES[definition.type] : undefined);
  return estimate ? { ...definition, estimate } : definition;
}
