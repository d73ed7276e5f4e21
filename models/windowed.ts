// Owns sampling clips longer than a model's native window: window by window, each held to the last latent frames of the one before.

import { ModelInputError } from './errors.js';
import { stepsAt } from './schedulers/flow-match-euler.js';
import { concat, slice, tensor, zeros } from './tensor.js';
import type { Tensor } from './tensor.js';
import type { DenoiseOptions, VideoModel } from './video-model.js';

/**
 * Options of {@link denoiseWindowed}: those of a {@link VideoModel.denoise} call without known
 * frames. With `initLatents` (video-to-video), each window starts from its span of them.
 */
export type WindowedOptions = Omit<DenoiseOptions, 'condLatents' | 'condMask'> & {
  shape: readonly number[];
  /** Latent frames each later window is held to; default {@link nativeWindow}'s. */
  context?: number;
};

/**
 * The model's native window in latent frames (from its default frame count) and the latent frames
 * of context each later window is held to: a quarter of the window, at least one. Measured on
 * skyloom-tiny (4-latent-frame window; 24 s clips, 5 prompts × 2 seeds; models/training/EVAL.md,
 * #16 item 7): held to one latent frame, later windows keep the background 8 grey levels from the
 * prompt's on average against 18 with two (the colour 234 of 240 seconds either way, the object
 * travelling as far); held to three, the colour goes. The more of the last window a window copies,
 * the more of its drift it carries on.
 */
export function nativeWindow(model: VideoModel, width: number, height: number): { window: number; context: number } {
  const window = model.latentShape(width, height, model.manifest.defaults.frames)[2]!;
  return { window, context: windowContext(window) };
}

/** The latent frames each later window of a `window`-latent-frame window is held to ({@link nativeWindow}). */
export function windowContext(window: number): number {
  return Math.max(1, Math.floor(window / 4));
}

/** How many windows {@link denoiseWindowed} samples for `frames` latent frames. */
export function windowCount(frames: number, window: number, context: number): number {
  return frames <= window ? 1 : 1 + Math.ceil((frames - window) / (window - context));
}

/**
 * The new latents' [C, T, h, w], once `dims` is [1, C, T, h, w] and the model takes known frames.
 * @throws ModelInputError naming the sampling (`what`) or what the model cannot do (`purpose`).
 */
function checkSampling(model: VideoModel, dims: readonly number[], what: string, purpose: string): [number, number, number, number] {
  const [batch, channels = 0, frames = 0, h = 0, w = 0] = dims;
  if (dims.length !== 5 || batch !== 1) throw new ModelInputError(`${what} sampling takes latents [1, C, T, h, w] but got [${dims.join(', ')}]`);
  if (model.manifest.components.transformer.inputs['cond_latents'] === undefined) {
    throw new ModelInputError(`model ${model.manifest.name} cannot take known frames, so it cannot ${purpose}`);
  }
  return [channels, frames, h, w];
}

/** @throws ModelInputError unless `t` is at least one latent frame of the new latents' channels and size. */
function checkKnown(name: string, t: Tensor<'float32'>, dims: readonly number[]): void {
  if (t.dims.length !== 5 || t.dims[1] !== dims[1] || t.dims[3] !== dims[3] || t.dims[4] !== dims[4] || (t.dims[2] ?? 0) < 1) {
    throw new ModelInputError(`${name} latents [${t.dims.join(', ')}] do not match the new latents [${dims.join(', ')}]`);
  }
}

/**
 * The new latents' [C, T, h, w] of a transition between `head` and `tail`, checked before any
 * sampling: the model takes known frames, and both ends match the new latents but for length.
 */
function checkEnds(model: VideoModel, dims: readonly number[], head: Tensor<'float32'>, tail: Tensor<'float32'>, what: string): [number, number, number, number] {
  const sampled = checkSampling(model, dims, what, 'generate a transition');
  checkKnown('head', head, dims);
  checkKnown('tail', tail, dims);
  return sampled;
}

/**
 * Known-frame conditioning for one window: the latent frames of `part` ([1, C, L, h, w]) in each
 * [from, to) range, held by a mask of ones; the rest zero.
 */
function holding(part: Tensor<'float32'>, ranges: ReadonlyArray<readonly [number, number]>): { condLatents: Tensor<'float32'>; condMask: Tensor<'float32'> } {
  const [, channels = 0, length = 0, h = 0, w = 0] = part.dims;
  const plane = h * w;
  const condLatents = zeros('float32', part.dims);
  const condMask = zeros('float32', [1, 1, length, h, w]);
  for (const [from, to] of ranges) {
    for (let c = 0; c < channels; c++) {
      const at = (c * length + from) * plane;
      condLatents.data.set(part.data.subarray(at, at + (to - from) * plane), at);
    }
    condMask.data.fill(1, from * plane, to * plane);
  }
  return { condLatents, condMask };
}

/** Whether {@link denoiseWindowed} applies: a longer clip than the window, and a model that takes known frames. */
export function needsWindows(model: VideoModel, shape: readonly number[], width: number, height: number): boolean {
  const takesKnown = model.manifest.components.transformer.inputs['cond_latents'] !== undefined;
  return takesKnown && shape[2]! > nativeWindow(model, width, height).window;
}

/**
 * Samples latents of any length through the model's native window, as extend does in pixels but
 * without a VAE round trip: window 0 is sampled from noise; each later window holds the last
 * `context` latent frames made so far fixed (its known-frame conditioning) and fills in the rest
 * with seed + n. The DiT only ever sees the length it was trained on, so length never produces
 * black or unrelated frames, and its memory is that of one window whatever the clip's length.
 * With `initLatents` and `denoise` (video-to-video), every window starts from its own span of the
 * input's latents, partly noised, instead of from noise; the held frames are still the last ones
 * made. `onStep` reports steps over all windows; its preview is the current window's.
 * @returns normalised latents of `options.shape`.
 * @throws ModelInputError when the model takes no known frames or the shape is not [1, C, T, h, w].
 * @throws as {@link VideoModel.denoise}.
 */
export async function denoiseWindowed(model: VideoModel, width: number, height: number, options: WindowedOptions): Promise<Tensor<'float32'>> {
  const dims = options.shape;
  const [channels, frames, h, w] = checkSampling(model, dims, 'windowed', 'make clips longer than its window');
  const { initLatents } = options;
  if (initLatents && initLatents.dims.join() !== dims.join()) {
    throw new ModelInputError(`initLatents [${initLatents.dims.join(', ')}] do not match the shape [${dims.join(', ')}]`);
  }
  const native = nativeWindow(model, width, height);
  const { window } = native;
  const context = options.context ?? native.context;
  if (!Number.isInteger(context) || context < 1 || context >= window) {
    throw new ModelInputError(`windowed sampling's context must be 1 to ${window - 1} latent frames (the window is ${window}) but is ${context}`);
  }
  const plane = h * w;
  const out = zeros('float32', dims);
  const windowDims = [1, channels, window, h, w];
  const fresh = window - context;
  const windows = windowCount(frames, window, context);
  let made = 0; // latent frames of `out` filled so far
  for (let n = 0; n < windows; n++) {
    // The last window keeps the full length and takes more context instead of fewer new frames.
    const take = n === 0 ? Math.min(window, frames) : Math.min(fresh, frames - made);
    const known = n === 0 ? 0 : window - take;
    const span = n === 0 && frames < window ? dims : windowDims;
    const x = await model.denoise({
      ...options,
      shape: span,
      ...(initLatents ? { initLatents: slice(initLatents, 2, made - known, made - known + span[2]!) } : {}),
      seed: options.seed + n,
      ...(known > 0 ? holding(slice(out, 2, made - known, made - known + window), [[0, known]]) : {}),
      onStep: (step, total, x0) => options.onStep?.(n * total + step, windows * total, x0),
    });
    const length = x.dims[2]!;
    for (let c = 0; c < channels; c++) {
      const from = (c * length + known) * plane;
      out.data.set(x.data.subarray(from, from + take * plane), (c * frames + made) * plane);
    }
    made += take;
  }
  return tensor('float32', dims, out.data);
}

/** Options of {@link denoiseExtension}: {@link WindowedOptions} with `shape` the new latents' [1, C, T, h, w]. */
export type ExtensionOptions = WindowedOptions;

/**
 * Samples new latents after (forward) or before (backward) known latents, window by window through
 * the model's native window, as {@link denoiseWindowed} does for a clip from nothing: the first
 * window holds all the known latent frames fixed (at its head forward, its tail backward), each
 * later one holds `context` latent frames of what is made so far, and the window furthest out
 * keeps the full length by taking more context. The known latents are encoded once by the caller;
 * no window goes through the VAE, so a long extension does not drift by the VAE's round-trip error
 * window after window. Memory: one window plus the new latents.
 * @param known normalised latents [1, C, K, h, w] (the clip's encoded frames next to the new ones), K < the window.
 * @returns the new latents only, normalised, of `options.shape`.
 * @throws ModelInputError when the model takes no known frames, the shapes disagree, or K leaves no room in the window.
 * @throws as {@link VideoModel.denoise}.
 */
export async function denoiseExtension(
  model: VideoModel,
  width: number,
  height: number,
  known: Tensor<'float32'>,
  direction: 'forward' | 'backward',
  options: ExtensionOptions,
): Promise<Tensor<'float32'>> {
  const dims = options.shape;
  const [channels, frames, h, w] = checkSampling(model, dims, 'extension', 'extend a clip');
  checkKnown('known', known, dims);
  const k = known.dims[2]!;
  const native = nativeWindow(model, width, height);
  const { window } = native;
  const context = options.context ?? native.context;
  if (k >= window) throw new ModelInputError(`${k} known latent frames leave no room for new ones in the model's ${window}-latent-frame window`);
  if (!Number.isInteger(context) || context < 1 || context >= window) {
    throw new ModelInputError(`extension sampling's context must be 1 to ${window - 1} latent frames (the window is ${window}) but is ${context}`);
  }
  const total = k + frames;
  const plane = h * w;
  // Real time order: forward [known | new], backward [new | known]. `made` counts latent frames
  // filled from the known side outwards; a window at generation offset a of length L covers real
  // [a, a + L) forward and [total − a − L, total − a) backward.
  const out = direction === 'forward' ? concat([known, zeros('float32', dims)], 2) : concat([zeros('float32', dims), known], 2);
  const real = (a: number, length: number) => (direction === 'forward' ? a : total - a - length);
  let made = k;
  let n = 0;
  const windows = extensionWindows(k, frames, window, context);
  while (made < total) {
    const held = n === 0 ? k : context;
    const take = Math.min(window - held, total - made);
    const knownHere = Math.min(made, window - take);
    const length = knownHere + take;
    const start = real(made - knownHere, length);
    const windowDims = [1, channels, length, h, w];
    const maskFrom = direction === 'forward' ? 0 : take;
    const step = n;
    const x = await model.denoise({
      ...options,
      shape: windowDims,
      seed: options.seed + n,
      ...holding(slice(out, 2, start, start + length), [[maskFrom, maskFrom + knownHere]]),
      onStep: (s, t, x0) => options.onStep?.(step * t + s, windows * t, x0),
    });
    const newFrom = direction === 'forward' ? knownHere : 0;
    const to = real(made, take);
    for (let c = 0; c < channels; c++) {
      out.data.set(x.data.subarray((c * length + newFrom) * plane, (c * length + newFrom + take) * plane), (c * total + to) * plane);
    }
    made += take;
    n++;
  }
  return direction === 'forward' ? slice(out, 2, k, total) : slice(out, 2, 0, frames);
}

/**
 * Samples the new latents between `head` (the latents before them: the end of one clip) and
 * `tail` (those after them: the start of the next, or of the same clip for a loop), through the
 * model's native window. When head, new and tail fit one window, one call holds both ends fixed.
 * Otherwise the new latents are sampled forward from the head, window by window, each later window
 * held to `context` latent frames made so far, and the last (closing) window is held at both ends:
 * those context frames at its head and the tail's first latent frames at its tail. The closing
 * window holds at most window − context − 1 of the tail's first latent frames, and the first
 * window at most window − 1 − those of the head's last. The DiT only ever sees its own window,
 * however long the transition (but for a window of under 3 latent frames, which cannot hold both
 * ends and a new frame: then one call). Window n samples with seed + n. With `initLatents` (the
 * new latents' shape) and `denoise`, every window starts from its span of them, partly noised,
 * instead of from noise ({@link denoiseTransition} harmonises its two halves so).
 * @param head normalised latents [1, C, K1, h, w], K1 ≥ 1
 * @param tail normalised latents [1, C, K2, h, w], K2 ≥ 1
 * @returns the new latents only, normalised, of `options.shape`
 * @throws ModelInputError when the model takes no known frames or the shapes disagree.
 * @throws as {@link VideoModel.denoise}.
 */
export async function denoiseBridge(
  model: VideoModel,
  width: number,
  height: number,
  head: Tensor<'float32'>,
  tail: Tensor<'float32'>,
  options: ExtensionOptions,
): Promise<Tensor<'float32'>> {
  const dims = options.shape;
  const [channels, frames, h, w] = checkEnds(model, dims, head, tail, 'bridge');
  const native = nativeWindow(model, width, height);
  const { window } = native;
  const context = options.context ?? native.context;
  const k1 = head.dims[2]!;
  const k2 = tail.dims[2]!;
  const plane = h * w;
  const { initLatents, ...rest } = options;
  if (initLatents && initLatents.dims.join() !== dims.join()) {
    throw new ModelInputError(`initLatents [${initLatents.dims.join(', ')}] do not match the shape [${dims.join(', ')}]`);
  }
  const { firstHeld, tailHeld, plan } = planBridge(k1, frames, k2, window, context);
  // Real time order: [the head's held frames | new | the tail's held frames]; the new ones start
  // as the init latents, each window's result written over its span.
  const out = concat([slice(head, 2, k1 - firstHeld, k1), initLatents ?? zeros('float32', dims), slice(tail, 2, 0, tailHeld)], 2);
  const total = firstHeld + frames + tailHeld;
  let made = 0; // new latent frames filled so far; they start at `firstHeld` in `out`
  for (const [n, { held, take, tail: tailHere }] of plan.entries()) {
    const start = firstHeld + made - held;
    const length = held + take + tailHere;
    const span = slice(out, 2, start, start + length);
    const x = await model.denoise({
      ...rest,
      shape: [1, channels, length, h, w],
      ...(initLatents ? { initLatents: span } : {}),
      seed: options.seed + n,
      ...holding(span, [
        [0, held],
        [held + take, length],
      ]),
      onStep: (s, t, x0) => options.onStep?.(n * t + s, plan.length * t, x0),
    });
    for (let c = 0; c < channels; c++) {
      out.data.set(x.data.subarray((c * length + held) * plane, (c * length + held + take) * plane), (c * total + firstHeld + made) * plane);
    }
    made += take;
  }
  return slice(out, 2, firstHeld, firstHeld + frames);
}

/**
 * How far back towards noise {@link denoiseTransition} takes its two halves before sampling them
 * again as one bridge: the strength of that pass. Measured on skyloom-tiny 2.0 (loop.json at seeds
 * 1–12 and the quality test's loop, bench/loop-wrap.ts; models/training/EVAL.md, "Meeting in the
 * middle"): at 0.45 the wrap-around is 1.24× the loop's median frame step on average, against
 * 2.20× for one bridge; at 0.4 the halves meet with a jump in the middle (largest step 2.6× the
 * median), at 0.5 the bridge's own late fade comes back (wrap 1.6×).
 */
export const TRANSITION_HARMONISE = 0.45;

/**
 * Samples a transition between `head` and `tail` by meeting in the middle: its first half as an
 * extension forward from the head, its second half as one backward from the tail (so each join is
 * the model's own continuation of the clip beside it), then both halves together as a bridge held
 * at both ends ({@link denoiseBridge}), started from them noised {@link TRANSITION_HARMONISE} of
 * the way back, so that the halves meet. A single bridge lets a model that cannot get an object
 * back to where it started fade it out late, and the transition's last frames then jump to the
 * tail's. A transition of one latent frame (or a window under 3) is one bridge. Seeds: the
 * forward half seed + 1000, the backward seed + 2000 (each + n per window), the bridge seed
 * (+ n). `onStep` reports the DiT steps of all three passes together.
 * @param head normalised latents [1, C, K1, h, w], K1 ≥ 1
 * @param tail normalised latents [1, C, K2, h, w], K2 ≥ 1
 * @returns the new latents only, normalised, of `options.shape`
 * @throws ModelInputError as {@link denoiseBridge} and {@link denoiseExtension}.
 * @throws as {@link VideoModel.denoise}.
 */
export async function denoiseTransition(
  model: VideoModel,
  width: number,
  height: number,
  head: Tensor<'float32'>,
  tail: Tensor<'float32'>,
  options: ExtensionOptions,
): Promise<Tensor<'float32'>> {
  const dims = options.shape;
  const [, frames] = checkEnds(model, dims, head, tail, 'transition');
  // The halves sample from noise; the bridge's strength is this function's own.
  const { initLatents: _noInit, denoise: _noStrength, ...base } = options;
  const native = nativeWindow(model, width, height);
  const plan = planTransition(head.dims[2]!, frames, tail.dims[2]!, native.window, options.context ?? native.context);
  if (plan.forward === 0) return denoiseBridge(model, width, height, head, tail, base);
  const steps = options.steps ?? model.manifest.defaults.steps;
  const harmonising = harmonisingSteps(steps);
  // DiT steps of each pass, and where each starts in the count onStep reports.
  const passes = [plan.forwardWindows * steps, plan.backwardWindows * steps, plan.bridge.length * harmonising];
  const starts = [0, passes[0]!, passes[0]! + passes[1]!];
  const total = starts[2]! + passes[2]!;
  const reporting = (pass: number) => (s: number, t: number, x0: Tensor<'float32'>) => options.onStep?.(starts[pass]! + Math.round((s / t) * passes[pass]!), total, x0);
  const shape = (t: number) => [dims[0]!, dims[1]!, t, dims[3]!, dims[4]!];
  // Each half sees as much of its clip as the bridge's windows hold.
  const k1 = head.dims[2]!;
  const before = slice(head, 2, k1 - plan.firstHeld, k1);
  const after = slice(tail, 2, 0, plan.tailHeld);
  const forward = await denoiseExtension(model, width, height, before, 'forward', { ...base, shape: shape(plan.forward), seed: options.seed + 1000, onStep: reporting(0) });
  const backward = await denoiseExtension(model, width, height, after, 'backward', {
    ...base,
    shape: shape(frames - plan.forward),
    seed: options.seed + 2000,
    onStep: reporting(1),
  });
  return denoiseBridge(model, width, height, head, tail, {
    ...base,
    initLatents: concat([forward, backward], 2),
    denoise: TRANSITION_HARMONISE,
    onStep: reporting(2),
  });
}

/** The steps {@link denoiseTransition}'s bridge runs of a `steps`-step schedule. */
export function harmonisingSteps(steps: number): number {
  return stepsAt(steps, TRANSITION_HARMONISE);
}

/**
 * The passes of {@link denoiseTransition} for `frames` new latent frames between `k1` known ones
 * before and `k2` after: the forward half's latent frames (0 when the transition is one bridge),
 * the head's and tail's latent frames the halves and the bridge hold ({@link planBridge}), and the
 * windows of each pass.
 * @throws ModelInputError as {@link planBridge}.
 */
export function planTransition(
  k1: number,
  frames: number,
  k2: number,
  window: number,
  context: number,
): { forward: number; firstHeld: number; tailHeld: number; forwardWindows: number; backwardWindows: number; bridge: Array<{ held: number; take: number; tail: number }> } {
  const { firstHeld, tailHeld, plan: bridge } = planBridge(k1, frames, k2, window, context);
  if (frames < 2 || window < 3) return { forward: 0, firstHeld, tailHeld, forwardWindows: 0, backwardWindows: 0, bridge };
  const forward = Math.floor(frames / 2);
  return {
    forward,
    firstHeld,
    tailHeld,
    forwardWindows: extensionWindows(firstHeld, forward, window, context),
    backwardWindows: extensionWindows(tailHeld, frames - forward, window, context),
    bridge,
  };
}

/** The windows of {@link denoiseExtension}: `frames` new latent frames beside `known` ones. */
export function extensionWindows(known: number, frames: number, window: number, context: number): number {
  return 1 + Math.max(0, Math.ceil((frames - (window - known)) / (window - context)));
}

/**
 * How {@link denoiseBridge} samples `frames` new latent frames between `k1` known ones before and
 * `k2` after: the head's and tail's frames it holds, and its windows ({@link bridgePlan}). All in
 * one window when it fits, or when the window is under 3 latent frames (it cannot hold both ends
 * and a new frame: then one call, as long as it takes).
 * @throws ModelInputError when windows are needed and `context` leaves no room (1 to window − 2).
 */
export function planBridge(
  k1: number,
  frames: number,
  k2: number,
  window: number,
  context: number,
): { firstHeld: number; tailHeld: number; plan: Array<{ held: number; take: number; tail: number }> } {
  if (k1 + frames + k2 <= window || window < 3) return { firstHeld: k1, tailHeld: k2, plan: [{ held: k1, take: frames, tail: k2 }] };
  if (!Number.isInteger(context) || context < 1 || context >= window - 1) {
    throw new ModelInputError(`bridge sampling's context must be 1 to ${window - 2} latent frames (the window is ${window}) but is ${context}`);
  }
  const tailHeld = Math.min(k2, window - context - 1);
  const firstHeld = Math.min(k1, window - 1 - tailHeld);
  return { firstHeld, tailHeld, plan: bridgePlan(frames, firstHeld, tailHeld, window, context) };
}

/**
 * The windows of {@link denoiseBridge}: per window, the latent frames held at its head (the head's
 * at first, then at least `context` made ones, more where the window has room), the new ones it
 * takes, and the tail's it holds (the closing window only). A window closes the bridge once the
 * rest fits with `context` frames and the tail; before that it leaves the closing window as many
 * new frames as it can take (window − context − tail).
 */
export function bridgePlan(frames: number, firstHeld: number, tailHeld: number, window: number, context: number): Array<{ held: number; take: number; tail: number }> {
  const plan: Array<{ held: number; take: number; tail: number }> = [];
  const closingRoom = window - context - tailHeld; // the most new frames a closing window can take
  for (let made = 0; made < frames;) {
    const first = plan.length === 0;
    const available = firstHeld + made; // latent frames before this window's new ones
    const remaining = frames - made;
    const least = first ? firstHeld : context;
    const closing = least + remaining + tailHeld <= window;
    // Leave the closing window all the new frames it can take, so it has the most room to meet the
    // tail; later windows fill the rest of the window with more context, as the model was trained.
    const take = closing ? remaining : Math.max(1, Math.min(window - least, remaining - closingRoom));
    const tail = closing ? tailHeld : 0;
    const held = first ? firstHeld : Math.min(available, window - take - tail);
    plan.push({ held, take, tail });
    made += take;
  }
  return plan;
}
