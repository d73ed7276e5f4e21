// Reader of a plain Hugging Face Optimum Stable Diffusion ONNX export: recognises it and synthesises its manifest.
import { basename, join } from 'node:path';
import type { SkyloomManifest } from '../manifest.js';
import type { EulerDiscreteConfig, TimestepSpacing } from '../schedulers/euler-discrete.js';
import { exists, optionalJson, readJson } from './files.js';

/** Stable Diffusion 1.x latent → RGB approximation (a least-squares fit popularised by ComfyUI). */
export const SD_PREVIEW_FACTORS: [number, number, number][] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

interface SdSchedulerJson {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  timestep_spacing?: string;
  steps_offset?: number;
}

/** Whether `dir` is an Optimum Stable Diffusion export (model_index.json and unet/model.onnx). */
export async function isOptimumSdExport(dir: string): Promise<boolean> {
  return (await exists(join(dir, 'model_index.json'))) && (await exists(join(dir, 'unet', 'model.onnx')));
}

// A padding id for CLIP-style tokenizers: tokenizer.json's own padding, else <|endoftext|> (what
// Stable Diffusion pads prompts with), else 0.
function sdPadId(tokenizerJson: Record<string, unknown>): number {
  const padding = tokenizerJson['padding'] as { pad_id?: number } | null | undefined;
  if (typeof padding?.pad_id === 'number') return padding.pad_id;
  const vocab = (tokenizerJson['model'] as { vocab?: Record<string, number> } | undefined)?.vocab;
  return vocab?.['<|endoftext|>'] ?? 0;
}

/**
 * Build the manifest of a plain Optimum Stable Diffusion export: a one-frame "video" model
 * (4 latent channels, spatial 8, temporal 1, scaling 0.18215, ε-prediction, euler-discrete).
 * @throws ModelLoadError when tokenizer/tokenizer.json or a JSON file cannot be read.
 */
export async function synthesizeSdManifest(dir: string): Promise<{ manifest: SkyloomManifest; scheduler: EulerDiscreteConfig }> {
  const tokenizerJson = (await readJson(join(dir, 'tokenizer', 'tokenizer.json'))) as Record<string, unknown>;
  const tokenizerConfig = await optionalJson(join(dir, 'tokenizer', 'tokenizer_config.json'));
  const schedulerJson = (await optionalJson(join(dir, 'scheduler', 'scheduler_config.json'))) as SdSchedulerJson;
  const maxLength = typeof tokenizerConfig['model_max_length'] === 'number' && tokenizerConfig['model_max_length'] <= 4096 ? tokenizerConfig['model_max_length'] : 77;
  const spacing = schedulerJson.timestep_spacing;
  const scheduler: EulerDiscreteConfig = {
    numTrainTimesteps: schedulerJson.num_train_timesteps,
    betaStart: schedulerJson.beta_start,
    betaEnd: schedulerJson.beta_end,
    timestepSpacing: spacing === 'leading' || spacing === 'trailing' || spacing === 'linspace' ? (spacing as TimestepSpacing) : undefined,
    stepsOffset: schedulerJson.steps_offset,
  };
  const components: SkyloomManifest['components'] = {
    text_encoder: { file: 'text_encoder/model.onnx', inputs: { input_ids: 'input_ids' }, outputs: { hidden_states: 'last_hidden_state' } },
    transformer: {
      file: 'unet/model.onnx',
      inputs: { latents: 'sample', timestep: 'timestep', text: 'encoder_hidden_states' },
      outputs: { noise: 'out_sample' },
    },
    vae_decoder: { file: 'vae_decoder/model.onnx', inputs: { latents: 'latent_sample' }, outputs: { video: 'sample' } },
  };
  if (await exists(join(dir, 'vae_encoder', 'model.onnx'))) {
    // Optimum names this output latent_sample (older) or latent_parameters (mean ‖ logvar, newer);
    // the loader reads the real name from the session.
    components.vae_encoder = { file: 'vae_encoder/model.onnx', inputs: { video: 'sample' }, outputs: { latents: 'latent_sample' } };
  }
  const manifest: SkyloomManifest = {
    format: 'skyloom-model',
    formatVersion: 1,
    family: 'stable-diffusion',
    name: basename(dir),
    version: '0.0.0',
    description: 'Stable Diffusion (Optimum ONNX export), run as a one-frame video model',
    license: 'see the model card',
    task: 'text-to-image',
    tokenizer: { file: 'tokenizer/tokenizer.json', maxLength, padId: sdPadId(tokenizerJson) },
    components,
    latent: {
      channels: 4,
      spatialCompression: 8,
      temporalCompression: 1,
      frameRule: 'multiple',
      // The UNet halves the latent three times, so latents must be multiples of 8 (pixels of 64).
      patchSize: [1, 8, 8],
      scalingFactor: 0.18215,
      shiftFactor: 0,
      previewFactors: SD_PREVIEW_FACTORS,
      previewBias: [0, 0, 0],
    },
    scheduler: { type: 'euler-discrete', shift: 1, numTrainTimesteps: schedulerJson.num_train_timesteps ?? 1000 },
    defaults: { width: 512, height: 512, frames: 1, fps: 8, steps: 20, guidance: 7.5 },
    sizes: { '1:1': [512, 512], '16:9': [896, 512], '9:16': [512, 896] },
    files: {},
  };
  return { manifest, scheduler };
}
