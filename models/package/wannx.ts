// Reader of the wannx Wan2.1 bundle as downloaded (AkaneTendo25/wan21-onnx): recognises it and synthesises its manifest.
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { ComponentManifest, SkyloomManifest } from '../manifest.js';
import { exists } from './files.js';

/** The bundle's files (docs/models.md; notes: wannx README "Weights"). */
export const WANNX_FILES = {
  dit: ['dit.onnx', 'dit_fp16.onnx'],
  textEncoder: 't5_encoder_fp16.onnx',
  vaeStep: 'vae_decoder.onnx',
  vaeInit: 'vae_decoder_init.onnx',
  vaeEncoder: 'vae_encoder.onnx',
  tokenizer: 'google/umt5-xxl/tokenizer.json',
} as const;

/**
 * Wan2.1 latent → RGB factors, one row per channel, applied to the DiT's (normalised) latents:
 * the published least-squares fit of ComfyUI (comfy/latent_formats.py, class Wan21).
 */
export const WAN_PREVIEW_FACTORS: [number, number, number][] = [
  [-0.1299, -0.1692, 0.2932],
  [0.0671, 0.0406, 0.0442],
  [0.3568, 0.2548, 0.1747],
  [0.0372, 0.2344, 0.142],
  [0.0313, 0.0189, -0.0328],
  [0.0296, -0.0956, -0.0665],
  [-0.3477, -0.4059, -0.2925],
  [0.0166, 0.1902, 0.1975],
  [-0.0412, 0.0267, -0.1364],
  [-0.1293, 0.074, 0.1636],
  [0.068, 0.3019, 0.1128],
  [0.0032, 0.0581, 0.0639],
  [-0.1251, 0.0927, 0.1699],
  [0.006, -0.0633, 0.0005],
  [0.3477, 0.2275, 0.295],
  [0.1984, 0.0913, 0.1861],
];
/** The bias of {@link WAN_PREVIEW_FACTORS} (same source). */
export const WAN_PREVIEW_BIAS: [number, number, number] = [-0.1835, -0.0868, -0.336];

/** Whether `dir` holds any file of the wannx bundle (a partial download is recognised, then reported by load). */
export async function isWannxLayout(dir: string): Promise<boolean> {
  for (const file of [...WANNX_FILES.dit, WANNX_FILES.textEncoder, WANNX_FILES.vaeInit]) {
    if (await exists(join(dir, file))) return true;
  }
  return false;
}

/** The path of the init graph for a streaming VAE step graph (wannx tools/run_isolated.py's rule). */
export function initGraphOf(stepFile: string): string {
  return stepFile.replace(/\.onnx$/, '_init.onnx');
}

/**
 * The manifest of a wannx folder: the 4-bit `dit.onnx` when present, else `dit_fp16.onnx`; the
 * optional `vae_encoder.onnx` (`input_video` → `latent`) when the folder has one. `files` lists no
 * hashes: `skyloom models add` writes a skyloom.json that does.
 * @throws ModelLoadError FILE_MISSING naming the first file of the bundle that is absent.
 */
export async function synthesizeWannxManifest(dir: string): Promise<SkyloomManifest> {
  let dit: string | undefined;
  for (const file of WANNX_FILES.dit) {
    if (await exists(join(dir, file))) {
      dit = file;
      break;
    }
  }
  if (dit === undefined) {
    const path = join(dir, WANNX_FILES.dit[0]);
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing: a Wan2.1 wannx folder needs dit.onnx (4-bit) or dit_fp16.onnx`);
  }
  for (const file of [WANNX_FILES.textEncoder, WANNX_FILES.vaeStep, WANNX_FILES.vaeInit, WANNX_FILES.tokenizer]) {
    const path = join(dir, file);
    if (!(await exists(path))) throw new ModelLoadError('FILE_MISSING', path, `${path} is missing: a Wan2.1 wannx folder needs it (see docs/models.md)`);
  }
  const vae = (file: string): ComponentManifest => ({ file, inputs: { latents: 'latent_frame' }, outputs: { video: 'video_frames' } });
  const components: SkyloomManifest['components'] = {
    text_encoder: {
      file: WANNX_FILES.textEncoder,
      inputs: { input_ids: 'input_ids', attention_mask: 'attention_mask' },
      outputs: { hidden_states: 'text_embeddings' },
    },
    transformer: {
      file: dit,
      inputs: { latents: 'latent_input', timestep: 'timestep', text: 'text_embeddings' },
      outputs: { velocity: 'noise_prediction' },
    },
    vae_decoder: vae(WANNX_FILES.vaeStep),
    vae_decoder_init: vae(WANNX_FILES.vaeInit),
  };
  if (await exists(join(dir, WANNX_FILES.vaeEncoder))) {
    components.vae_encoder = { file: WANNX_FILES.vaeEncoder, inputs: { video: 'input_video' }, outputs: { latents: 'latent' } };
  }
  return wanManifest(basename(dir), components);
}

/** The Wan2.1 T2V manifest around a set of components (also what `skyloom models add` writes). */
export function wanManifest(name: string, components: SkyloomManifest['components']): SkyloomManifest {
  return {
    format: 'skyloom-model',
    formatVersion: 1,
    family: 'wan',
    name: name.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'wan',
    version: '2.1',
    description: 'Wan2.1 text-to-video (wannx ONNX export)',
    license: 'Apache-2.0',
    task: 'text-to-video',
    tokenizer: { file: WANNX_FILES.tokenizer, maxLength: 512, padId: 0 },
    components,
    latent: {
      channels: 16,
      spatialCompression: 8,
      temporalCompression: 4,
      frameRule: 'causal',
      patchSize: [1, 2, 2],
      // The VAE graphs denormalise (z·std + mean) themselves: the DiT's latents go in as they are.
      scalingFactor: 1,
      shiftFactor: 0,
      previewFactors: WAN_PREVIEW_FACTORS,
      previewBias: WAN_PREVIEW_BIAS,
    },
    // wannx's default: flow-matching UniPC (order 2, bh2), shift 5 (README; 3.0 is diffusers' and the i2v value).
    scheduler: { type: 'flow-match-unipc', shift: 5, numTrainTimesteps: 1000 },
    defaults: { width: 832, height: 480, frames: 81, fps: 16, steps: 50, guidance: 5 },
    sizes: { '16:9': [832, 480], '9:16': [480, 832] },
    files: {},
  };
}
