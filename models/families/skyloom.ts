// The skyloom family: Skyloom's own DiT + 3D VAE (skyloom-tiny): batch-2 CFG, masked text, known-frame conditioning, whole or streaming decoder.
import { join } from 'node:path';
import { ModelInputError, ModelLoadError } from '../errors.js';
import type { CacheManifest, ComponentName } from '../manifest.js';
import type { ModelPackage } from '../package.js';
import { exists } from '../package/files.js';
import { checkSignature, f32, i64 } from '../package/signature.js';
import type { GraphIo, Signature } from '../package/signature.js';
import { FlowMatchEulerScheduler } from '../schedulers/flow-match-euler.js';
import type { FlowSampler } from '../schedulers/flow-match-euler.js';
import { FlowMatchHeunScheduler } from '../schedulers/flow-match-heun.js';
import { FlowMatchUniPCScheduler } from '../schedulers/flow-match-unipc.js';
import { concat, size, slice, tensor, zeros } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import type { ChunkOptions, DenoiseOptions, TextConditioning, VideoChunk } from '../video-model.js';
import { SAMPLERS } from '../samplers.js';
import { checkDims, checkLatents, chunkSize, costOf, decodeChunked, encodeChunked, frameCountOf, guide, latentShapeOf, sampleFlow, videoToRgb } from './common.js';
import type { Capability, LoadContext, ModelFamily } from './family.js';

const SIGNATURES: Partial<Record<ComponentName, Signature>> = {
  text_encoder: { inputs: { input_ids: i64(2), attention_mask: i64(2) }, outputs: { hidden_states: f32(3) } },
  transformer: {
    inputs: {
      latents: f32(5),
      timestep: f32(1),
      text: f32(3),
      text_mask: i64(2),
      cond_latents: f32(5, true),
      cond_mask: f32(5, true),
    },
    outputs: { velocity: f32(5) },
  },
  vae_encoder: { inputs: { video: f32(5) }, outputs: { latents: f32(5) } },
  // next_latents: a lookahead decoder's latent frames after its own (streaming pairs only).
  vae_decoder: { inputs: { latents: f32(5), next_latents: f32(5, true) }, outputs: { video: f32(5) } },
  vae_decoder_init: { inputs: { latents: f32(5), next_latents: f32(5, true) }, outputs: { video: f32(5) } },
};

/**
 * Open every component's session and check it against the family's roles (small models: the
 * sessions stay cached for the first run). `beforeComponent` runs before each component is opened.
 * @throws ModelLoadError FILE_MISSING, ONNX_INVALID or SIGNATURE_MISMATCH naming the file.
 */
export async function inspectBySessions(
  ctx: LoadContext,
  signatures: Partial<Record<ComponentName, Signature>>,
  familyName: string,
  beforeComponent: (name: ComponentName) => void = () => {},
): Promise<Map<ComponentName, GraphIo>> {
  const metadata = new Map<ComponentName, GraphIo>();
  for (const name of ['text_encoder', 'transformer', 'vae_encoder', 'vae_decoder', 'vae_decoder_init'] as const) {
    const component = ctx.manifest.components[name];
    if (component === undefined) continue;
    beforeComponent(name);
    const signature = signatures[name];
    if (signature === undefined) {
      throw new ModelLoadError('MANIFEST_INVALID', join(ctx.dir, 'skyloom.json'), `${join(ctx.dir, 'skyloom.json')}: the ${familyName} family has no ${name} component`);
    }
    const path = join(ctx.dir, component.file);
    if (!(await exists(path))) throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`);
    await ctx.sessions.use(path, ctx.sessionKey, async (session) => {
      if (ctx.kind === 'stable-diffusion' && name === 'vae_encoder') {
        const output = session.outputs[0]?.name;
        if (output !== undefined) component.outputs['latents'] = output;
      }
      const caches = component.caches ?? [];
      checkSignature(component.file, session.path, session, component, signature, (input) => caches.some((c) => c.input === input));
      metadata.set(name, { inputs: session.inputs, outputs: session.outputs });
    });
  }
  return metadata;
}

/**
 * Check a streaming decoder pair against the caches skyloom.json declares: the step graph takes
 * each cache and returns its next value, the init graph returns it too, with the declared
 * channels and time steps wherever the graph fixes them. Without `metadata` only the manifest is checked.
 * @throws ModelLoadError MANIFEST_INVALID when the pair declares no caches, SIGNATURE_MISMATCH naming the graph and the cache.
 */
export function checkStreamingDecoder(ctx: LoadContext, metadata?: ReadonlyMap<ComponentName, GraphIo>): void {
  const step = ctx.manifest.components.vae_decoder;
  const init = ctx.manifest.components.vae_decoder_init;
  const where = join(ctx.dir, 'skyloom.json');
  const lookahead = step.inputs['next_latents'] !== undefined;
  if (init === undefined) {
    if (lookahead) {
      throw new ModelLoadError(
        'MANIFEST_INVALID',
        where,
        `${where}: /components/vae_decoder/inputs/next_latents: only a streaming decoder (beside vae_decoder_init) looks ahead; a whole-clip decoder sees every latent frame`,
      );
    }
    return;
  }
  if ((init.inputs['next_latents'] !== undefined) !== lookahead) {
    throw new ModelLoadError(
      'MANIFEST_INVALID',
      where,
      `${where}: /components/${lookahead ? 'vae_decoder_init' : 'vae_decoder'}/inputs: next_latents is declared for one graph of the streaming pair and not the other; both look ahead or neither does`,
    );
  }
  const caches = step.caches ?? [];
  if (caches.length === 0) {
    throw new ModelLoadError('MANIFEST_INVALID', where, `${where}: /components/vae_decoder: a streaming decoder (beside vae_decoder_init) must declare its caches`);
  }
  if (metadata === undefined) return;
  const stepIo = metadata.get('vae_decoder');
  const initIo = metadata.get('vae_decoder_init');
  if (stepIo === undefined || initIo === undefined) return;
  const stepPath = join(ctx.dir, step.file);
  const initPath = join(ctx.dir, init.file);
  const mismatch = (path: string, message: string) => new ModelLoadError('SIGNATURE_MISMATCH', path, message);
  const fits = (shape: readonly (number | string)[], c: CacheManifest) =>
    shape.length === 5 && (typeof shape[1] !== 'number' || shape[1] === c.channels) && (typeof shape[2] !== 'number' || shape[2] === c.frames);
  for (const c of caches) {
    const input = stepIo.inputs.find((v) => v.name === c.input);
    if (input === undefined) throw mismatch(stepPath, `${step.file} has no cache input "${c.input}" (skyloom.json declares it)`);
    if (!fits(input.shape, c)) {
      throw mismatch(
        stepPath,
        `${step.file} cache input "${c.input}" is [${input.shape.join(', ')}] but skyloom.json declares [B, ${c.channels}, ${c.frames}, ${c.scale}h, ${c.scale}w]`,
      );
    }
    for (const [path, file, io] of [
      [stepPath, step.file, stepIo],
      [initPath, init.file, initIo],
    ] as const) {
      if (!io.outputs.some((v) => v.name === c.output)) throw mismatch(path, `${file} returns no cache "${c.output}" (skyloom.json declares it as the next ${c.input})`);
    }
  }
}

/** Latent frame `z` [B, C, 1, h, w] moved by (dy, dx) cells: bilinear, edges repeated. */
export function translateLatent(z: Tensor<'float32'>, dy: number, dx: number): Tensor<'float32'> {
  const [, , , h = 1, w = 1] = z.dims;
  const out = new Float32Array(z.data.length);
  const planes = z.data.length / (h * w);
  for (let i = 0; i < h; i++) {
    const y = Math.min(h - 1, Math.max(0, i - dy));
    const y0 = Math.floor(y);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = y - y0;
    for (let j = 0; j < w; j++) {
      const x = Math.min(w - 1, Math.max(0, j - dx));
      const x0 = Math.floor(x);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = x - x0;
      for (let p = 0, at = 0; p < planes; p++, at += h * w) {
        const top = z.data[at + y0 * w + x0]! * (1 - fx) + z.data[at + y0 * w + x1]! * fx;
        const bottom = z.data[at + y1 * w + x0]! * (1 - fx) + z.data[at + y1 * w + x1]! * fx;
        out[at + i * w + j] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return tensor('float32', z.dims, out);
}

/** Shifts searched for the priming frame: ±1.5 latent cells in quarter cells, each axis. */
const PRIME_SHIFTS = Array.from({ length: 13 }, (_, i) => -1.5 + 0.25 * i);

/**
 * The virtual latent frame before a clip for `decoderPrime: "translate"`: z0 moved back by the
 * shift (dy, dx) that best maps z0 onto z1 (least squares over {@link PRIME_SHIFTS}), so it is a
 * latent like the others, the object where the clip's motion says it was a latent frame earlier.
 */
export function primingFrame(z0: Tensor<'float32'>, z1: Tensor<'float32'>): Tensor<'float32'> {
  let best = Infinity;
  let shift: [number, number] = [0, 0];
  for (const dy of PRIME_SHIFTS) {
    for (const dx of PRIME_SHIFTS) {
      const moved = translateLatent(z0, dy, dx).data;
      let error = 0;
      for (let i = 0; i < moved.length; i++) error += (moved[i]! - z1.data[i]!) ** 2;
      if (error < best) {
        best = error;
        shift = [dy, dx];
      }
    }
  }
  return translateLatent(z0, -shift[0], -shift[1]);
}

/**
 * Streaming decode through the init/step pair: the first latent frame goes through the init graph
 * (zero caches), every later one through the step graph with the caches the call before returned
 * (matched by the names skyloom.json declares), `chunkFrames` latent frames a call and a yield
 * (the first chunk is two calls, one yield). It is the whole-clip computation
 * cut in time, so any chunk size gives the whole-clip frames; each call's frames are yielded at
 * once and memory holds one chunk and the caches, however long the clip.
 *
 * With `latent.decoderPrime: "translate"` the init graph first decodes a virtual latent frame,
 * {@link primingFrame}, whose frames are dropped, and every latent frame of the clip goes through
 * the step graph: a causal decoder given no history draws its first latent frame as a still, and
 * the virtual frame gives it the history the clip's motion implies (EVAL.md, "The first latent
 * frame"). A one-latent-frame clip has no motion to follow and is decoded as is.
 *
 * A lookahead pair (both graphs declare `next_latents`) also takes, beside each latent frame, the
 * one after it (the clip's last looks ahead to itself; the virtual frame to the clip's first), so
 * the last frames of a latent frame can move towards where the next one draws the object: a
 * causal decoder draws each latent frame's four frames without knowing where the next one goes,
 * and the next one starts with a jump (EVAL.md, "Looking one latent frame ahead").
 */
async function* decodeStreaming(pkg: ModelPackage, latents: Tensor<'float32'>, options: ChunkOptions): AsyncGenerator<VideoChunk> {
  const frames = checkLatents(pkg, latents);
  const chunk = chunkSize(options);
  const { scalingFactor, shiftFactor, decoderPrime } = pkg.manifest.latent;
  const step = pkg.manifest.components.vae_decoder;
  const init = pkg.manifest.components.vae_decoder_init!;
  const caches = step.caches ?? [];
  const lookahead = step.inputs['next_latents'] !== undefined;
  let carried: Map<string, Tensor> | undefined;
  const unscaled = (part: Tensor<'float32'>) =>
    tensor(
      'float32',
      part.dims,
      part.data.map((v) => v / scalingFactor + shiftFactor),
    );
  // `next`: the latent frames after `part`'s, fed to a lookahead pair only.
  const run = async (part: Tensor<'float32'>, next: () => Tensor<'float32'>): Promise<Tensor<'float32'>> => {
    const raw = unscaled(part);
    const graph = carried === undefined ? init : step;
    const feeds: Record<string, Tensor> = { [graph.inputs['latents']!]: raw };
    if (lookahead) feeds[graph.inputs['next_latents']!] = unscaled(next());
    const outputs = caches.map((c) => c.output);
    let out: Record<string, Tensor>;
    let video: Tensor<'float32'>;
    if (carried === undefined) {
      out = await pkg.runNamed('vae_decoder_init', feeds, [init.outputs['video']!, ...outputs]);
      video = out[init.outputs['video']!] as Tensor<'float32'>;
    } else {
      for (const c of caches) feeds[c.input] = carried.get(c.output)!;
      // Each cache is read once: its buffer goes to the worker instead of being copied.
      out = await pkg.runNamed('vae_decoder', feeds, [step.outputs['video']!, ...outputs], { transferFeeds: true });
      video = out[step.outputs['video']!] as Tensor<'float32'>;
    }
    carried = new Map(caches.map((c) => [c.output, out[c.output]!]));
    return video;
  };
  const latentFrames = (from: number, to: number) => slice(latents, 2, from, to);
  // The latent frames after [from, to): the clip's last one looks ahead to itself.
  const nextFrames = (from: number, to: number) =>
    to < frames
      ? latentFrames(from + 1, to + 1)
      : from + 1 < frames
        ? concat([latentFrames(from + 1, frames), latentFrames(frames - 1, frames)], 2)
        : latentFrames(frames - 1, frames);
  const decodeFrames = (from: number, to: number) => run(latentFrames(from, to), () => nextFrames(from, to));
  if (decoderPrime === 'translate' && frames > 1) await run(primingFrame(latentFrames(0, 1), latentFrames(1, 2)), () => latentFrames(0, 1));
  let startFrame = 0;
  for (let start = 0; start < frames; start += chunk) {
    const end = Math.min(frames, start + chunk);
    // Unprimed, the init graph takes the first latent frame alone and the step graph the rest of
    // the first chunk: an init call as long as the chunk would keep a second working set as large
    // as the step graph's alive beside it (a 60 s clip's decode at 64×64, chunk 8: +228 MiB
    // against +139).
    const video = carried === undefined && end > 1 ? concat([await decodeFrames(0, 1), await decodeFrames(1, end)], 2) : await decodeFrames(start, end);
    const rgb = videoToRgb(video, startFrame);
    startFrame += rgb.frames;
    yield rgb;
  }
}

/** `x` with the known frames (mask 1) replaced by (1 − σ)·cond + σ·noise. */
function putKnown(x: Float32Array, cond: Tensor<'float32'>, mask: Tensor<'float32'>, dims: readonly number[], sigma: number, noise: Float32Array): Float32Array {
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

/** A flow sampler by name. @throws ModelInputError listing the valid names. */
export function flowSampler(name: string, config: { numTrainTimesteps: number; shift: number }): FlowSampler {
  if (name === 'euler') return new FlowMatchEulerScheduler(config);
  if (name === 'heun') return new FlowMatchHeunScheduler(config);
  if (name === 'unipc') return new FlowMatchUniPCScheduler(config);
  throw new ModelInputError(`Unsupported sampler "${name}". Should be one of: ${SAMPLERS.join(', ')}`);
}

export const skyloomFamily: ModelFamily = {
  name: 'skyloom',
  // A streaming decode runs the step graph at two lengths (the rest of the first chunk, then whole
  // chunks); with memory patterns each length keeps its own plan. Off: a 60 s decode at 64×64
  // rises 104 MiB instead of 169, the 4 s clip's 52 instead of 82, at the same wall time
  // (bench/decode-memory.ts, bench/long-video.ts).
  sessionOptions: { memoryPattern: false },

  async inspect(ctx) {
    // The caches' declaration is checked before the decoder's graph, whose cache inputs it names.
    const metadata = await inspectBySessions(ctx, SIGNATURES, 'skyloom', (name) => {
      if (name === 'vae_decoder') checkStreamingDecoder(ctx);
    });
    checkStreamingDecoder(ctx, metadata);
    return metadata;
  },

  capabilities(manifest): Capability[] {
    const caps: Capability[] = ['t2v'];
    const encoder = manifest.components.vae_encoder !== undefined;
    if (encoder && manifest.components.transformer.inputs['cond_latents'] !== undefined) caps.push('i2v', 'extend');
    if (encoder) caps.push('v2v');
    return caps;
  },

  // The DiT was trained with an all-zero text mask as the unconditional input (an empty prompt).
  defaultNegativePrompt: () => '',

  frameCount: (pkg, latentFrames) => frameCountOf(pkg.manifest.latent, latentFrames),
  latentShape: (pkg, width, height, frames) => latentShapeOf(pkg.manifest.latent, width, height, frames),

  /** An empty (or blank) prompt encodes to an all-zero mask: the unconditional input of training. */
  async encodeText(pkg, prompts, options): Promise<TextConditioning> {
    const { inputIds, attentionMask } = pkg.tokenizer.encode(prompts, options.maxLength);
    const length = inputIds.dims[1];
    prompts.forEach((prompt, b) => {
      if (prompt.trim() !== '') return;
      inputIds.data.fill(BigInt(pkg.tokenizer.padId), b * length, (b + 1) * length);
      attentionMask.data.fill(0n, b * length, (b + 1) * length);
    });
    const out = await pkg.run('text_encoder', { input_ids: inputIds, attention_mask: attentionMask });
    return { hidden: out['hidden_states'] as Tensor<'float32'>, mask: attentionMask };
  },

  /**
   * Rectified flow: x_σ = (1 − σ)·x0 + σ·noise, the DiT predicts v = noise − x0, cond and uncond
   * run as one batch of 2B per DiT call, and known frames are fed every step, noised to its σ as in
   * training, and restored exactly in the result.
   */
  async denoise(pkg, options: DenoiseOptions, dims, noise, guidance, useCfg) {
    const manifest = pkg.manifest;
    const sampler = flowSampler(options.sampler ?? 'euler', { numTrainTimesteps: manifest.scheduler.numTrainTimesteps, shift: manifest.scheduler.shift });
    const steps = options.steps ?? manifest.defaults.steps;
    const schedule = sampler.setTimesteps(steps, { shift: options.shift, denoise: options.denoise });

    const [batch = 1, , frames = 1, h = 1, w = 1] = dims;
    const maskDims = [batch, 1, frames, h, w];
    const { condLatents, condMask } = options;
    if (condLatents !== undefined) checkDims('condLatents', condLatents, dims);
    if (condMask !== undefined) checkDims('condMask', condMask, maskDims);
    const mapsCond = manifest.components.transformer.inputs['cond_latents'] !== undefined;
    if (condLatents && condMask && !mapsCond) throw new ModelInputError(`model ${manifest.name} cannot take known frames (no cond_latents input)`);

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
    const withKnown = (sample: Float32Array, sigma: number): Float32Array => (condLatents && condMask ? putKnown(sample, condLatents, condMask, dims, sigma, noise.data) : sample);
    const velocityAt = async (sample: Float32Array, sigma: number, timestep: number): Promise<Float32Array> => {
      const latents = twice(tensor('float32', dims, withKnown(sample, sigma)));
      const t = tensor('float32', [runBatch], new Float32Array(runBatch).fill(timestep));
      const out = await pkg.run('transformer', { ...fixed, latents, timestep: t }, { signal: options.signal });
      const v = (out['velocity'] as Tensor<'float32'>).data;
      return useCfg ? guide(v, guidance) : v;
    };

    return sampleFlow(sampler, schedule, dims, noise.data, velocityAt, withKnown, options);
  },

  /** A streaming pair (2.0) decodes through its caches; a whole-clip decoder (1.x) chunk by chunk with its declared context. */
  decode: (pkg, latents, options) =>
    pkg.has('vae_decoder_init')
      ? decodeStreaming(pkg, latents, options)
      : decodeChunked(pkg, latents, options, async (raw) => (await pkg.run('vae_decoder', { latents: raw }))['video'] as Tensor<'float32'>),

  async encode(pkg, video, options) {
    if (!pkg.has('vae_encoder')) throw new ModelInputError(`model ${pkg.manifest.name} has no vae_encoder`);
    const dims = latentShapeOf(pkg.manifest.latent, video.width, video.height, video.frames);
    return encodeChunked(pkg, video, options, dims, async (input) => (await pkg.run('vae_encoder', { video: input }))['latents'] as Tensor<'float32'>);
  },

  unsupportedWords: (pkg, prompt) => pkg.tokenizer.unknownWords(prompt),

  estimateCost: (pkg, request) => costOf(pkg.manifest.latent, request, latentShapeOf(pkg.manifest.latent, request.width, request.height, request.frames)),
};
