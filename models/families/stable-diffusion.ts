// The stable-diffusion family: an Optimum SD export run as a one-frame video model (ε-prediction, euler-discrete, batch-2 CFG).
import { ModelInputError } from '../errors.js';
import type { ComponentName } from '../manifest.js';
import { f32 } from '../package/signature.js';
import type { Signature } from '../package/signature.js';
import { EulerDiscreteScheduler } from '../schedulers/euler-discrete.js';
import { concat, reshape, tensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import type { TextConditioning } from '../video-model.js';
import { costOf, decodeChunked, encodeChunked, frameCountOf, guide, latentShapeOf, mix } from './common.js';
import type { ModelFamily } from './family.js';
import { inspectBySessions } from './skyloom.js';

// Several types where the exporters differ: Optimum's CLIP export takes int32 ids, some UNet exports an int64 timestep.
const SIGNATURES: Partial<Record<ComponentName, Signature>> = {
  text_encoder: { inputs: { input_ids: { types: ['int32', 'int64'], rank: 2 } }, outputs: { hidden_states: f32(3) } },
  transformer: {
    inputs: { latents: f32(4), timestep: { types: ['float32', 'int64', 'float16'], rank: 1 }, text: f32(3) },
    outputs: { noise: f32(4) },
  },
  vae_encoder: { inputs: { video: f32(4) }, outputs: { latents: f32(4) } },
  vae_decoder: { inputs: { latents: f32(4) }, outputs: { video: f32(4) } },
};

export const stableDiffusionFamily: ModelFamily = {
  name: 'stable-diffusion',

  inspect: (ctx) => inspectBySessions(ctx, SIGNATURES, 'stable-diffusion'),

  capabilities: (manifest) => (manifest.components.vae_encoder !== undefined ? ['t2v', 'v2v'] : ['t2v']),

  defaultNegativePrompt: () => '',

  frameCount: (pkg, latentFrames) => frameCountOf(pkg.manifest.latent, latentFrames),

  latentShape(pkg, width, height, frames) {
    const shape = latentShapeOf(pkg.manifest.latent, width, height, frames);
    if (frames !== 1) throw new ModelInputError(`frames must be 1 for the one-frame model ${pkg.manifest.name} but is ${frames}`);
    return shape;
  },

  /** Optimum's CLIP export takes int32 ids and no mask (CLIP attends causally over the padding). */
  async encodeText(pkg, prompts, options): Promise<TextConditioning> {
    const { inputIds, attentionMask } = pkg.tokenizer.encode(prompts, options.maxLength);
    const ids =
      pkg.inputInfo('text_encoder', 'input_ids')?.type === 'int32'
        ? tensor(
            'int32',
            inputIds.dims,
            Int32Array.from(inputIds.data, (v) => Number(v)),
          )
        : inputIds;
    const out = await pkg.run('text_encoder', { input_ids: ids });
    return { hidden: out['hidden_states'] as Tensor<'float32'>, mask: attentionMask };
  },

  async denoise(pkg, options, dims, noise, guidance, useCfg) {
    const manifest = pkg.manifest;
    if (options.condLatents !== undefined || options.condMask !== undefined) {
      throw new ModelInputError(`model ${manifest.name} cannot take known frames (no cond_latents input)`);
    }
    if (options.sampler !== undefined && options.sampler !== 'euler') {
      throw new ModelInputError(`sampler "${options.sampler}" is not available for ${manifest.name}: Stable Diffusion packages sample with euler`);
    }
    if (dims[2] !== 1) throw new ModelInputError(`latents of the one-frame model ${manifest.name} must have T = 1 but have T = ${dims[2]}`);
    const [batch = 1, channels = 4, , h = 1, w = 1] = dims;
    const imageDims = [batch, channels, h, w];
    const scheduler = new EulerDiscreteScheduler(pkg.eulerDiscrete);
    const schedule = scheduler.setTimesteps(options.steps ?? manifest.defaults.steps, { denoise: options.denoise });
    const text = useCfg && options.uncond ? concat([options.cond.hidden, options.uncond.hidden], 0) : options.cond.hidden;
    const timestepType = pkg.inputInfo('transformer', 'timestep')?.type;

    let x = options.initLatents ? mix(options.initLatents.data, 1, noise.data, schedule.sigmas[0]) : noise.data.map((v) => v * schedule.initNoiseSigma);
    const total = schedule.timesteps.length;
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted();
      const sigma = schedule.sigmas[i];
      const t = schedule.timesteps[i];
      const scaled = tensor('float32', imageDims, scheduler.scaleModelInput(x, sigma));
      // As diffusers' ONNX pipeline: one timestep, broadcast by the UNet over the batch.
      const timestep = timestepType === 'int64' ? tensor('int64', [1], BigInt64Array.of(BigInt(Math.round(t)))) : tensor('float32', [1], Float32Array.of(t));
      const out = await pkg.run('transformer', { latents: useCfg ? concat([scaled, scaled], 0) : scaled, timestep, text }, { signal: options.signal });
      const eps = (out['noise'] as Tensor<'float32'>).data;
      const { prevSample, denoised } = scheduler.step(useCfg ? guide(eps, guidance) : eps, x, schedule, i);
      x = prevSample;
      await options.onStep?.(i + 1, total, tensor('float32', dims, denoised));
    }
    return tensor('float32', dims, x);
  },

  decode: (pkg, latents, options) =>
    decodeChunked(pkg, latents, options, async (raw) => {
      const [, c = 4, , h = 1, w = 1] = raw.dims;
      const out = (await pkg.run('vae_decoder', { latents: reshape(raw, [1, c, h, w]) }))['video'] as Tensor<'float32'>;
      const [, , H = 1, W = 1] = out.dims;
      return reshape(out, [1, 3, 1, H, W]);
    }),

  async encode(pkg, video, options) {
    if (!pkg.has('vae_encoder')) throw new ModelInputError(`model ${pkg.manifest.name} has no vae_encoder`);
    const dims = this.latentShape(pkg, video.width, video.height, video.frames);
    const channels = pkg.manifest.latent.channels;
    return encodeChunked(pkg, video, options, dims, async (input) => {
      const raw = (await pkg.run('vae_encoder', { video: reshape(input, [1, 3, video.height, video.width]) }))['latents'] as Tensor<'float32'>;
      const [, c = channels, h = 1, w = 1] = raw.dims;
      return reshape(raw, [1, c, 1, h, w]);
    });
  },

  unsupportedWords: () => [],

  estimateCost: (pkg, request) => costOf(pkg.manifest.latent, request, latentShapeOf(pkg.manifest.latent, request.width, request.height, 1)),
};
