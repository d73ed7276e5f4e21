// Model packages on disk: search paths, listing, sha256 verification, manifest + signature checks, loading.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir, totalmem } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from './errors.js';
import { validateManifest } from './manifest.js';
import type { ComponentManifest, ComponentName, SkyloomManifest } from './manifest.js';
import { silentLogger } from './runtime/onnx.js';
import type { Device, ModelLogger, OnnxSession, SessionRunOptions, ValueInfo } from './runtime/onnx.js';
import { runSession } from './runtime/onnx.js';
import type { EulerDiscreteConfig, TimestepSpacing } from './schedulers/euler-discrete.js';
import { SessionCache } from './session-cache.js';
import type { SessionKey } from './session-cache.js';
import type { Tensor } from './tensor.js';
import { TextTokenizer } from './tokenizer.js';

/** A skyloom.json package, or a plain Optimum Stable Diffusion export run as a one-frame model. */
export type PackageKind = 'skyloom' | 'stable-diffusion';

/** One entry of {@link listModels}. */
export interface ModelListing {
  name: string;
  dir: string;
  kind: PackageKind;
  version?: string;
  description?: string;
  license?: string;
}

/** Where packages are looked up. */
export interface SearchOptions {
  /** Replaces {@link modelSearchPaths}; later entries override earlier ones by name. */
  searchPaths?: readonly string[];
}

/** Options of {@link loadModelPackage}. */
export interface LoadOptions extends SearchOptions {
  device?: Device;
  /** intraOpNumThreads of every session. */
  threads?: number;
  /** Check the sha256 of every file the manifest lists (default true). */
  verify?: boolean;
  logger?: ModelLogger;
  /** Sessions are shared through this cache (default: one process-wide cache, half the RAM). */
  sessions?: SessionCache;
}

// Expected element types and rank of each role (docs/model-package.md). Several types where the
// exporters differ: Optimum's CLIP export takes int32 ids, some UNet exports an int64 timestep.
interface RoleSpec {
  types: readonly string[];
  rank: number;
  optional?: boolean;
}
type Signature = { inputs: Record<string, RoleSpec>; outputs: Record<string, RoleSpec> };

const f32 = (rank: number, optional = false): RoleSpec => ({ types: ['float32'], rank, optional });
const i64 = (rank: number): RoleSpec => ({ types: ['int64'], rank });

const SKYLOOM_SIGNATURES: Record<ComponentName, Signature> = {
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
  vae_decoder: { inputs: { latents: f32(5) }, outputs: { video: f32(5) } },
};

const SD_SIGNATURES: Record<ComponentName, Signature> = {
  text_encoder: { inputs: { input_ids: { types: ['int32', 'int64'], rank: 2 } }, outputs: { hidden_states: f32(3) } },
  transformer: {
    inputs: { latents: f32(4), timestep: { types: ['float32', 'int64', 'float16'], rank: 1 }, text: f32(3) },
    outputs: { noise: f32(4) },
  },
  vae_encoder: { inputs: { video: f32(4) }, outputs: { latents: f32(4) } },
  vae_decoder: { inputs: { latents: f32(4) }, outputs: { video: f32(4) } },
};

// Folder of this module's package: <repo>/models/packages, also when running from dist/models/.
function repoPackagesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const repo = basename(dirname(here)) === 'dist' ? dirname(dirname(here)) : dirname(here);
  return join(repo, 'models', 'packages');
}

/** Default search paths: `<repo>/models/packages`, `~/.skyloom/models`, then each `$SKYLOOM_MODELS` entry. */
export function modelSearchPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env['SKYLOOM_MODELS'] ?? '').split(delimiter).filter((p) => p !== '');
  return [repoPackagesDir(), join(homedir(), '.skyloom', 'models'), ...extra.map((p) => resolve(p))];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function packageKind(dir: string): Promise<PackageKind | undefined> {
  if (await exists(join(dir, 'skyloom.json'))) return 'skyloom';
  if ((await exists(join(dir, 'model_index.json'))) && (await exists(join(dir, 'unet', 'model.onnx')))) return 'stable-diffusion';
  return undefined;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError('MANIFEST_INVALID', path, `${path} is not valid JSON (${reason})`, { cause: error });
  }
}

/**
 * Every package in the search paths, by name; a later path's package replaces an earlier one of the
 * same name. Folders that are not packages are skipped; a package whose skyloom.json cannot be read
 * is still listed (so `skyloom models` shows it) with what could be read.
 */
export async function listModels(options: SearchOptions = {}): Promise<ModelListing[]> {
  const byName = new Map<string, ModelListing>();
  for (const root of options.searchPaths ?? modelSearchPaths()) {
    let names: string[];
    try {
      names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      continue; // a search path that does not exist is normal (~/.skyloom/models on a fresh machine)
    }
    for (const name of names.sort()) {
      const dir = join(root, name);
      const kind = await packageKind(dir);
      if (kind === undefined) continue;
      const listing: ModelListing = { name, dir, kind };
      if (kind === 'skyloom') {
        try {
          const raw = (await readJson(join(dir, 'skyloom.json'))) as Partial<Record<string, unknown>>;
          if (typeof raw['version'] === 'string') listing.version = raw['version'];
          if (typeof raw['description'] === 'string') listing.description = raw['description'];
          if (typeof raw['license'] === 'string') listing.license = raw['license'];
        } catch {
          // listed anyway; loading it reports the problem with its path
        }
      }
      byName.set(name, listing);
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A package folder from a folder path or a package name.
 * @throws ModelLoadError NOT_FOUND listing the searched paths and the known names.
 */
export async function resolveModelDir(dirOrName: string, options: SearchOptions = {}): Promise<string> {
  const looksLikePath = isAbsolute(dirOrName) || dirOrName.startsWith('.') || dirOrName.includes('/');
  if (looksLikePath) {
    const dir = resolve(dirOrName);
    if ((await packageKind(dir)) === undefined) {
      throw new ModelLoadError('NOT_FOUND', dir, `${dir} is not a model package (no skyloom.json, and no model_index.json with unet/model.onnx)`);
    }
    return dir;
  }
  const models = await listModels(options);
  const found = models.find((m) => m.name === dirOrName);
  if (found !== undefined) return found.dir;
  const paths = options.searchPaths ?? modelSearchPaths();
  const known = models.length > 0 ? models.map((m) => m.name).join(', ') : 'none';
  throw new ModelLoadError('NOT_FOUND', dirOrName, `model "${dirOrName}" not found in ${paths.join(', ')} (available: ${known})`);
}

// sha256 by (path, size, mtime): a second load of an unchanged file does not read it again.
const verifiedHashes = new Map<string, string>();

/**
 * sha256 (hex) of a file, streamed so multi-gigabyte weights never sit in memory; cached per
 * (path, size, mtime).
 * @throws ModelLoadError FILE_MISSING when the file is absent.
 */
export async function sha256File(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`, { cause: error });
  }
  const key = `${path}\0${info.size}\0${info.mtimeMs}`;
  const cached = verifiedHashes.get(key);
  if (cached !== undefined) return cached;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const hex = hash.digest('hex');
  verifiedHashes.set(key, hex);
  return hex;
}

/**
 * Check that every listed file exists and has its sha256.
 * @throws ModelLoadError FILE_MISSING or HASH_MISMATCH (path, expected and actual hash).
 */
export async function verifyFiles(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [relative, expected] of Object.entries(files)) {
    const path = join(dir, relative);
    let actual: string;
    try {
      actual = await sha256File(path);
    } catch (error) {
      if (error instanceof ModelLoadError) {
        throw new ModelLoadError('FILE_MISSING', path, `${path} is missing (expected sha256 ${expected})`, { expected, cause: error });
      }
      throw error;
    }
    if (actual !== expected) {
      throw new ModelLoadError('HASH_MISMATCH', path, `${path} is corrupt: sha256 is ${actual} but skyloom.json expects ${expected}`, {
        expected,
        actual,
      });
    }
  }
}

function describeValues(values: readonly ValueInfo[]): string {
  return values.map((v) => v.name).join(', ');
}

/**
 * Check a session against a component's role → tensor-name map: every role's tensor exists with
 * an accepted element type and rank, and every input of the model is fed by some role.
 * @throws ModelLoadError SIGNATURE_MISMATCH naming the file.
 */
function checkSignature(relativeFile: string, session: OnnxSession, component: ComponentManifest, signature: Signature): void {
  const mismatch = (message: string) => new ModelLoadError('SIGNATURE_MISMATCH', session.path, message);
  for (const side of ['inputs', 'outputs'] as const) {
    const values = side === 'inputs' ? session.inputs : session.outputs;
    const noun = side === 'inputs' ? 'input' : 'output';
    for (const [role, spec] of Object.entries(signature[side])) {
      const tensorName = component[side][role];
      if (tensorName === undefined) {
        if (spec.optional === true) continue;
        throw mismatch(`${relativeFile}: skyloom.json maps no ${noun} for role "${role}"`);
      }
      const info = values.find((v) => v.name === tensorName);
      if (info === undefined) {
        throw mismatch(`${relativeFile} has no ${noun} "${tensorName}" (${side}: ${describeValues(values)})`);
      }
      if (info.type === undefined || !spec.types.includes(info.type)) {
        throw mismatch(`${relativeFile} ${noun} "${tensorName}" is ${info.type ?? 'not a tensor'} but must be ${spec.types.join(' or ')}`);
      }
      if (info.shape.length !== spec.rank) {
        throw mismatch(`${relativeFile} ${noun} "${tensorName}" has rank ${info.shape.length} [${info.shape.join(', ')}] but must have rank ${spec.rank}`);
      }
    }
  }
  const fed = new Set(Object.values(component.inputs));
  for (const input of session.inputs) {
    if (!fed.has(input.name)) throw mismatch(`${relativeFile} has input "${input.name}" that no role in skyloom.json feeds`);
  }
}

/** Stable Diffusion 1.x latent → RGB approximation (a least-squares fit popularised by ComfyUI). */
const SD_PREVIEW_FACTORS: [number, number, number][] = [
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

async function optionalJson(path: string): Promise<Record<string, unknown>> {
  if (!(await exists(path))) return {};
  const value = await readJson(path);
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
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
  const maxLength = typeof tokenizerConfig['model_max_length'] === 'number' && tokenizerConfig['model_max_length'] <= 4096
    ? tokenizerConfig['model_max_length']
    : 77;
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

let defaultCache: SessionCache | undefined;

/** The process-wide session cache: half of the machine's memory, or `$SKYLOOM_MODEL_MEMORY` bytes. */
export function defaultSessionCache(): SessionCache {
  const fromEnv = Number(process.env['SKYLOOM_MODEL_MEMORY']);
  defaultCache ??= new SessionCache({ budgetBytes: fromEnv > 0 ? fromEnv : Math.floor(totalmem() / 2) });
  return defaultCache;
}

/**
 * A loaded, checked package. Components are run by role name (`latents`, `velocity`, …), so the
 * rest of the runtime never sees a package's own tensor names.
 */
export class ModelPackage {
  constructor(
    readonly dir: string,
    readonly kind: PackageKind,
    readonly manifest: SkyloomManifest,
    readonly tokenizer: TextTokenizer,
    /** Euler-discrete settings from scheduler_config.json (Stable Diffusion packages). */
    readonly eulerDiscrete: EulerDiscreteConfig,
    private readonly sessions: SessionCache,
    private readonly sessionKey: SessionKey,
    private readonly metadata: ReadonlyMap<ComponentName, { inputs: readonly ValueInfo[]; outputs: readonly ValueInfo[] }>,
  ) {}

  /** Whether the package has a component (vae_encoder is optional). */
  has(component: ComponentName): boolean {
    return this.manifest.components[component] !== undefined;
  }

  /** Absolute path of a component's .onnx file. @throws ModelLoadError FILE_MISSING for an absent component. */
  componentPath(component: ComponentName): string {
    return join(this.dir, this.component(component).file);
  }

  /** The session's metadata of the input behind `role`, e.g. to learn an exporter's timestep type. */
  inputInfo(component: ComponentName, role: string): ValueInfo | undefined {
    const name = this.manifest.components[component]?.inputs[role];
    return this.metadata.get(component)?.inputs.find((v) => v.name === name);
  }

  /**
   * Run a component with feeds keyed by role; returns outputs keyed by role. Feeds for roles the
   * component does not map are left out, so one call site serves packages with and without them.
   * @throws ModelLoadError when the component is absent or its session cannot be (re)created.
   * @throws ModelRunError when ONNX Runtime fails.
   * @throws `options.signal.reason` when the signal aborts during the call (see {@link SessionRunOptions}).
   */
  async run(component: ComponentName, feeds: Readonly<Record<string, Tensor>>, options: SessionRunOptions = {}): Promise<Record<string, Tensor>> {
    const spec = this.component(component);
    const named: Record<string, Tensor> = {};
    for (const [role, t] of Object.entries(feeds)) {
      const name = spec.inputs[role];
      if (name !== undefined) named[name] = t;
    }
    const roles = Object.entries(spec.outputs);
    const results = await this.sessions.use(this.componentPath(component), this.sessionKey, (session) =>
      runSession(session, named, roles.map(([, name]) => name), options),
    );
    const out: Record<string, Tensor> = {};
    for (const [role, name] of roles) {
      const t = results[name];
      if (t !== undefined) out[role] = t;
    }
    return out;
  }

  private component(component: ComponentName): ComponentManifest {
    const spec = this.manifest.components[component];
    if (spec === undefined) {
      throw new ModelLoadError('FILE_MISSING', this.dir, `${this.dir} has no ${component} component`);
    }
    return spec;
  }
}

/**
 * Load a package by folder or name: read and validate skyloom.json (or synthesise one for a
 * Stable Diffusion export), verify file hashes, create every component's session and check its
 * tensor names, ranks and element types against the manifest, and load the tokenizer.
 * @throws ModelLoadError NOT_FOUND, MANIFEST_INVALID, FILE_MISSING, HASH_MISMATCH, ONNX_INVALID,
 *   SIGNATURE_MISMATCH, DEVICE_UNAVAILABLE or TOKENIZER_INVALID; every message names the file.
 * @throws UnsupportedDeviceError for an unknown device.
 */
export async function loadModelPackage(dirOrName: string, options: LoadOptions = {}): Promise<ModelPackage> {
  const dir = await resolveModelDir(dirOrName, options);
  const kind = (await packageKind(dir)) ?? 'skyloom';
  let manifest: SkyloomManifest;
  let eulerDiscrete: EulerDiscreteConfig = {};
  if (kind === 'skyloom') {
    const file = join(dir, 'skyloom.json');
    manifest = validateManifest(await readJson(file), file);
    if (options.verify ?? true) {
      for (const component of Object.values(manifest.components)) {
        const external = `${component.file}_data`;
        if (!(external in manifest.files) && (await exists(join(dir, external)))) {
          throw new ModelLoadError('MANIFEST_INVALID', file, `${file} is not a valid skyloom.json:\n  /files: has no sha256 for "${external}"`);
        }
      }
      await verifyFiles(dir, manifest.files);
    }
  } else {
    ({ manifest, scheduler: eulerDiscrete } = await synthesizeSdManifest(dir));
  }

  const sessions = options.sessions ?? defaultSessionCache();
  const sessionKey: SessionKey = { device: options.device ?? 'auto', threads: options.threads };
  const logger = options.logger ?? silentLogger;
  const signatures = kind === 'skyloom' ? SKYLOOM_SIGNATURES : SD_SIGNATURES;
  const metadata = new Map<ComponentName, { inputs: readonly ValueInfo[]; outputs: readonly ValueInfo[] }>();
  for (const name of ['text_encoder', 'transformer', 'vae_encoder', 'vae_decoder'] as const) {
    const component = manifest.components[name];
    if (component === undefined) continue;
    const path = join(dir, component.file);
    if (!(await exists(path))) throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`);
    await sessions.use(path, sessionKey, async (session) => {
      if (kind === 'stable-diffusion' && name === 'vae_encoder') {
        const output = session.outputs[0]?.name;
        if (output !== undefined) component.outputs['latents'] = output;
      }
      checkSignature(component.file, session, component, signatures[name]);
      metadata.set(name, { inputs: session.inputs, outputs: session.outputs });
    });
  }
  logger.info(`loaded model ${manifest.name} from ${dir}`);

  const tokenizer = await TextTokenizer.load(join(dir, manifest.tokenizer.file), {
    maxLength: manifest.tokenizer.maxLength,
    padId: manifest.tokenizer.padId,
  });
  return new ModelPackage(dir, kind, manifest, tokenizer, eulerDiscrete, sessions, sessionKey, metadata);
}
