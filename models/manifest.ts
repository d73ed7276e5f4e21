// skyloom.json: its TypeScript type, its JSON Schema, and validation with errors that name file and pointer.
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import { ModelLoadError } from './errors.js';

/** Component names of a package. */
export type ComponentName = 'text_encoder' | 'transformer' | 'vae_encoder' | 'vae_decoder' | 'vae_decoder_init';

/**
 * One cache of a streaming decoder: the step graph takes it as `input` and every call (init and
 * step) returns its next value as `output`. Its shape is [B, channels, frames, scale·h, scale·w]
 * for latents [B, C, T, h, w].
 */
export interface CacheManifest {
  input: string;
  output: string;
  channels: number;
  frames: number;
  scale: number;
}

/** One ONNX component: its file and the real tensor name behind each role. */
export interface ComponentManifest {
  file: string;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
  /** A streaming decoder's step graph (`vae_decoder` beside `vae_decoder_init`): its caches. */
  caches?: CacheManifest[];
}

/** The latent format (docs/model-package.md). */
export interface LatentFormat {
  channels: number;
  spatialCompression: number;
  temporalCompression: number;
  /** "multiple": F = k·T; "causal": F = 1 + k·(T − 1). */
  frameRule: 'multiple' | 'causal';
  /** The DiT's patch over (T, h, w). */
  patchSize: [number, number, number];
  scalingFactor: number;
  shiftFactor: number;
  /** One [r, g, b] row per latent channel. */
  previewFactors: [number, number, number][];
  previewBias: [number, number, number];
  /**
   * Latent frames [before, after] the VAE decoder reads around each output frame (its temporal
   * receptive field): chunked decode gives every chunk this much context and drops what it
   * produces, so it equals whole-clip decode. Default: [1, 0] for the causal frame rule, else [0, 0].
   */
  decoderContext?: [number, number];
  /**
   * Latent frames [before, after] the VAE encoder reads around each latent frame it makes: chunked
   * encode gives every chunk this much context and drops the latents it makes, so it equals
   * whole-clip encode. Default [0, 0] (no context: chunks are encoded on their own).
   */
  encoderContext?: [number, number];
  /**
   * Streaming (init/step) decoders only. "translate": decode the first latent frame after a virtual
   * one whose frames are dropped: the first latent frame moved back by the shift that best maps it
   * onto the second, so the clip's first frames move as the rest does (a causal decoder with no
   * history draws its first latent frame as a still). Absent: off.
   */
  decoderPrime?: 'translate';
}

/** Scheduler types the runtime implements. */
export type SchedulerType = 'flow-match-euler' | 'flow-match-unipc' | 'euler-discrete';

/** skyloom.json, format version 1. */
export interface SkyloomManifest {
  format: 'skyloom-model';
  formatVersion: 1;
  /** The model family (models/families/<family>.ts); absent means "skyloom". */
  family?: string;
  name: string;
  version: string;
  description?: string;
  license: string;
  task: string;
  tokenizer: { file: string; maxLength: number; padId: number };
  components: {
    text_encoder: ComponentManifest;
    transformer: ComponentManifest;
    vae_decoder: ComponentManifest;
    vae_encoder?: ComponentManifest;
    /** A streaming decoder's graph for latent frame 0 (vae_decoder is then the step graph). */
    vae_decoder_init?: ComponentManifest;
  };
  latent: LatentFormat;
  scheduler: { type: SchedulerType; shift: number; numTrainTimesteps: number };
  conditioning?: { scheme: string; masks: string[] };
  defaults: { width: number; height: number; frames: number; fps: number; steps: number; guidance: number };
  sizes?: Record<string, [number, number]>;
  /**
   * What the model can draw, where it was trained on a closed set: `backgrounds` names every
   * background it knows ("black", "dark green"); a prompt asking for another one is warned about
   * (docs/model-package.md). Absent: any.
   */
  prompt?: { backgrounds?: string[] };
  /** sha256 (hex) of every file in the package but skyloom.json, by relative path. */
  files: Record<string, string>;
}

const nameMap = { type: 'object', additionalProperties: { type: 'string', minLength: 1 } } as const;
const positiveInt = { type: 'integer', minimum: 1 } as const;
const cache = {
  type: 'object',
  required: ['input', 'output', 'channels', 'frames', 'scale'],
  properties: { input: { type: 'string', minLength: 1 }, output: { type: 'string', minLength: 1 }, channels: positiveInt, frames: positiveInt, scale: positiveInt },
  additionalProperties: false,
} as const;
const component = {
  type: 'object',
  required: ['file', 'inputs', 'outputs'],
  properties: { file: { type: 'string', minLength: 1 }, inputs: nameMap, outputs: nameMap, caches: { type: 'array', items: cache, minItems: 1 } },
} as const;
const context = { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 2 } as const;
const rgb = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 } as const;

/** JSON Schema (draft-07) of skyloom.json. Unknown top-level fields are allowed for forward compatibility. */
export const manifestSchema = {
  $id: 'https://skyloom.dev/schemas/skyloom-model.json',
  type: 'object',
  required: ['format', 'formatVersion', 'name', 'version', 'license', 'task', 'tokenizer', 'components', 'latent', 'scheduler', 'defaults', 'files'],
  properties: {
    format: { const: 'skyloom-model' },
    formatVersion: { const: 1 },
    family: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    version: { type: 'string' },
    description: { type: 'string' },
    license: { type: 'string' },
    task: { type: 'string' },
    tokenizer: {
      type: 'object',
      required: ['file', 'maxLength', 'padId'],
      properties: { file: { type: 'string' }, maxLength: positiveInt, padId: { type: 'integer', minimum: 0 } },
    },
    components: {
      type: 'object',
      required: ['text_encoder', 'transformer', 'vae_decoder'],
      properties: { text_encoder: component, transformer: component, vae_encoder: component, vae_decoder: component, vae_decoder_init: component },
      additionalProperties: false,
    },
    latent: {
      type: 'object',
      required: ['channels', 'spatialCompression', 'temporalCompression', 'frameRule', 'patchSize', 'scalingFactor', 'shiftFactor', 'previewFactors', 'previewBias'],
      properties: {
        channels: positiveInt,
        spatialCompression: positiveInt,
        temporalCompression: positiveInt,
        frameRule: { enum: ['multiple', 'causal'] },
        patchSize: { type: 'array', items: positiveInt, minItems: 3, maxItems: 3 },
        scalingFactor: { type: 'number', exclusiveMinimum: 0 },
        shiftFactor: { type: 'number' },
        previewFactors: { type: 'array', items: rgb },
        previewBias: rgb,
        decoderContext: context,
        encoderContext: context,
        decoderPrime: { enum: ['translate'] },
      },
    },
    scheduler: {
      type: 'object',
      required: ['type', 'shift', 'numTrainTimesteps'],
      properties: {
        type: { enum: ['flow-match-euler', 'flow-match-unipc', 'euler-discrete'] },
        shift: { type: 'number', exclusiveMinimum: 0 },
        numTrainTimesteps: positiveInt,
      },
    },
    conditioning: {
      type: 'object',
      required: ['scheme', 'masks'],
      properties: { scheme: { type: 'string' }, masks: { type: 'array', items: { type: 'string' } } },
    },
    defaults: {
      type: 'object',
      required: ['width', 'height', 'frames', 'fps', 'steps', 'guidance'],
      properties: {
        width: positiveInt,
        height: positiveInt,
        frames: positiveInt,
        fps: { type: 'number', exclusiveMinimum: 0 },
        steps: positiveInt,
        guidance: { type: 'number', minimum: 0 },
      },
    },
    sizes: { type: 'object', additionalProperties: { type: 'array', items: positiveInt, minItems: 2, maxItems: 2 } },
    prompt: {
      type: 'object',
      properties: { backgrounds: { type: 'array', items: { type: 'string', pattern: '^[a-z]+( [a-z]+)*$' }, minItems: 1 } },
      additionalProperties: false,
    },
    files: { type: 'object', additionalProperties: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile<SkyloomManifest>(manifestSchema);

function describe(error: ErrorObject): string {
  const pointer = error.instancePath === '' ? '/' : error.instancePath;
  if (error.keyword === 'required') return `${pointer}: missing required property "${String(error.params['missingProperty'])}"`;
  if (error.keyword === 'const') return `${pointer}: must be ${JSON.stringify(error.params['allowedValue'])}`;
  if (error.keyword === 'enum') return `${pointer}: must be one of ${(error.params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return `${pointer}: ${error.message ?? error.keyword}`;
}

/**
 * Check a parsed skyloom.json against the schema and the cross-field rules the schema cannot say.
 * @throws ModelLoadError MANIFEST_INVALID naming `file` and the JSON pointer of each problem.
 */
export function validateManifest(value: unknown, file: string): SkyloomManifest {
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map(describe);
    throw new ModelLoadError('MANIFEST_INVALID', file, `${file} is not a valid skyloom.json:\n  ${problems.join('\n  ')}`);
  }
  const problems: string[] = [];
  const rows = value.latent.previewFactors.length;
  if (rows !== value.latent.channels) problems.push(`/latent/previewFactors: has ${rows} rows but latent.channels is ${value.latent.channels}`);
  // A file without a hash would load unverified; the contract is a sha256 for every file.
  const needed = [value.tokenizer.file, ...Object.values(value.components).map((c) => c.file)];
  for (const path of needed) if (!(path in value.files)) problems.push(`/files: has no sha256 for "${path}"`);
  const caches = value.components.vae_decoder.caches ?? [];
  const names = caches.flatMap((c) => [c.input, c.output]);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) problems.push(`/components/vae_decoder/caches: names "${twice}" twice (each cache needs its own input and output)`);
  if (caches.length > 0 && value.components.vae_decoder_init === undefined) {
    problems.push('/components/vae_decoder/caches: a streaming decoder needs its first-chunk graph too (components.vae_decoder_init)');
  }
  if (value.latent.decoderPrime !== undefined && value.components.vae_decoder_init === undefined) {
    problems.push('/latent/decoderPrime: primes a streaming decoder, and this package has none (components.vae_decoder_init)');
  }
  if (problems.length > 0) {
    throw new ModelLoadError('MANIFEST_INVALID', file, `${file} is not a valid skyloom.json:\n  ${problems.join('\n  ')}`);
  }
  return value;
}
