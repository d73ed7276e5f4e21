// A loaded model package (ModelPackage) and loadModelPackage; discovery, verification and the format readers live in models/package/.
import { stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { FAMILIES, familyNamed } from './families/index.js';
import type { ModelFamily } from './families/family.js';
import { validateManifest } from './manifest.js';
import type { ComponentManifest, ComponentName, SkyloomManifest } from './manifest.js';
import { familyOfLayout, packageKind, resolveModelDir, setListingDescriber } from './package/discovery.js';
import type { PackageKind, SearchOptions } from './package/discovery.js';
import { exists, readJson } from './package/files.js';
import { synthesizeSdManifest } from './package/optimum-sd.js';
import type { GraphIo } from './package/signature.js';
import { verifyFiles } from './package/verify.js';
import { folderFiles } from './package/add.js';
import { synthesizeWannxManifest } from './package/wannx.js';
import { silentLogger } from './runtime/onnx.js';
import type { Device, ModelLogger, SessionRunOptions, ValueInfo } from './runtime/onnx.js';
import { runSession } from './runtime/onnx.js';
import type { EulerDiscreteConfig } from './schedulers/euler-discrete.js';
import { SessionCache } from './session-cache.js';
import type { SessionKey } from './session-cache.js';
import { float16ToFloat32, float32ToFloat16, tensor } from './tensor.js';
import type { Tensor } from './tensor.js';
import { TextTokenizer } from './tokenizer.js';

// The public names callers have always imported from here.
export { listModels, modelSearchPaths, packageKind, resolveModelDir } from './package/discovery.js';
export type { ModelListing, PackageKind, SearchOptions } from './package/discovery.js';
export { sha256File, verifyFiles } from './package/verify.js';
export { synthesizeSdManifest } from './package/optimum-sd.js';
export { synthesizeWannxManifest, wanManifest } from './package/wannx.js';
export { addModelFolder } from './package/add.js';
export type { AddOptions, AddProgress } from './package/add.js';

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

// Listings carry what each package can do and its size on disk (`skyloom models`, GET /api/models).
setListingDescriber(async (listing) => {
  const family = FAMILIES.get(listing.family ?? 'skyloom');
  let manifest: SkyloomManifest | undefined;
  if (listing.kind === 'skyloom') manifest = validateManifest(await readJson(join(listing.dir, 'skyloom.json')), join(listing.dir, 'skyloom.json'));
  else if (listing.kind === 'stable-diffusion') manifest = (await synthesizeSdManifest(listing.dir)).manifest;
  else manifest = await synthesizeWannxManifest(listing.dir);
  if (family !== undefined) listing.capabilities = family.capabilities(manifest);
  const files = Object.keys(manifest.files).length > 0 ? Object.keys(manifest.files) : await folderFiles(listing.dir);
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(listing.dir, f))).size;
  listing.sizeBytes = bytes;
});

let defaultCache: SessionCache | undefined;

/** The process-wide session cache: half of the machine's memory, or `$SKYLOOM_MODEL_MEMORY` bytes. */
export function defaultSessionCache(): SessionCache {
  const fromEnv = Number(process.env['SKYLOOM_MODEL_MEMORY']);
  defaultCache ??= new SessionCache({ budgetBytes: fromEnv > 0 ? fromEnv : Math.floor(totalmem() / 2) });
  return defaultCache;
}

// Feeds are cast to the element type the graph reports (wannx exports with --native-fp16 take
// float16), and float16 outputs come back as float32, so families compute in float32 only.
function castFeed(t: Tensor, info: ValueInfo | undefined): Tensor {
  if (info?.type === 'float16' && t.type === 'float32') return tensor('float16', t.dims, float32ToFloat16(t.data as Float32Array));
  if (info?.type === 'float32' && t.type === 'float16') return tensor('float32', t.dims, float16ToFloat32(t.data as Uint16Array));
  if (info?.type === 'int32' && t.type === 'int64')
    return tensor(
      'int32',
      t.dims,
      Int32Array.from(t.data as BigInt64Array, (v) => Number(v)),
    );
  return t;
}

function widenOutput(t: Tensor): Tensor {
  return t.type === 'float16' ? tensor('float32', t.dims, float16ToFloat32(t.data as Uint16Array)) : t;
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
    private readonly metadata: ReadonlyMap<ComponentName, GraphIo>,
    /** The family that runs this package (models/families/). */
    readonly family: ModelFamily,
  ) {}

  /** Whether the package has a component (vae_encoder is optional). */
  has(component: ComponentName): boolean {
    return this.manifest.components[component] !== undefined;
  }

  /** Absolute path of a component's .onnx file. @throws ModelLoadError FILE_MISSING for an absent component. */
  componentPath(component: ComponentName): string {
    return join(this.dir, this.component(component).file);
  }

  /** The metadata of the input behind `role`, e.g. to learn an exporter's timestep type. */
  inputInfo(component: ComponentName, role: string): ValueInfo | undefined {
    const name = this.manifest.components[component]?.inputs[role];
    return this.metadata.get(component)?.inputs.find((v) => v.name === name);
  }

  /** A component's declared inputs and outputs, as read at load. */
  io(component: ComponentName): GraphIo | undefined {
    return this.metadata.get(component);
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
    const results = await this.runNamed(
      component,
      named,
      roles.map(([, name]) => name),
      options,
    );
    const out: Record<string, Tensor> = {};
    for (const [role, name] of roles) {
      const t = results[name];
      if (t !== undefined) out[role] = t;
    }
    return out;
  }

  /**
   * Run a component with feeds keyed by the graph's own tensor names (a streaming decoder's caches
   * have no roles). Feeds are cast to the reported input types; float16 outputs return as float32.
   * @throws ModelLoadError when the component is absent or its session cannot be (re)created.
   * @throws ModelRunError when ONNX Runtime fails.
   */
  async runNamed(
    component: ComponentName,
    feeds: Readonly<Record<string, Tensor>>,
    outputNames: readonly string[],
    options: SessionRunOptions = {},
  ): Promise<Record<string, Tensor>> {
    const inputs = this.metadata.get(component)?.inputs ?? [];
    const cast: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      cast[name] = castFeed(
        t,
        inputs.find((v) => v.name === name),
      );
    const results = await this.sessions.use(this.componentPath(component), this.sessionKey, (session) => runSession(session, cast, outputNames, options));
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(results)) out[name] = widenOutput(t);
    return out;
  }

  /**
   * Release the idle sessions of components (a staged family frees one stage before loading the next).
   * Components that were never opened are skipped.
   */
  async release(components: readonly ComponentName[]): Promise<void> {
    for (const c of components) {
      if (this.has(c)) await this.sessions.release(this.componentPath(c), this.sessionKey);
    }
  }

  private component(component: ComponentName): ComponentManifest {
    const spec = this.manifest.components[component];
    if (spec === undefined) {
      throw new ModelLoadError('FILE_MISSING', this.dir, `${this.dir} has no ${component} component`);
    }
    return spec;
  }
}

async function readManifest(dir: string, kind: PackageKind, verify: boolean): Promise<{ manifest: SkyloomManifest; eulerDiscrete: EulerDiscreteConfig }> {
  if (kind === 'stable-diffusion') {
    const { manifest, scheduler } = await synthesizeSdManifest(dir);
    return { manifest, eulerDiscrete: scheduler };
  }
  if (kind === 'wannx') return { manifest: await synthesizeWannxManifest(dir), eulerDiscrete: {} };
  const file = join(dir, 'skyloom.json');
  const manifest = validateManifest(await readJson(file), file);
  if (verify) {
    for (const component of Object.values(manifest.components)) {
      // Optimum writes model.onnx_data, the wannx exporter dit.onnx.data: both are weights to hash.
      for (const external of [`${component.file}_data`, `${component.file}.data`]) {
        if (!(external in manifest.files) && (await exists(join(dir, external)))) {
          throw new ModelLoadError('MANIFEST_INVALID', file, `${file} is not a valid skyloom.json:\n  /files: has no sha256 for "${external}"`);
        }
      }
    }
    await verifyFiles(dir, manifest.files);
  }
  return { manifest, eulerDiscrete: {} };
}

/**
 * Load a package by folder or name: read and validate skyloom.json (or synthesise one for a
 * Stable Diffusion export or a wannx Wan2.1 folder), verify file hashes, let the package's family
 * check every component's tensor names, ranks and element types (and, for a CPU run, its
 * operators), and load the tokenizer.
 * @throws ModelLoadError NOT_FOUND, MANIFEST_INVALID, FILE_MISSING, HASH_MISMATCH, ONNX_INVALID,
 *   SIGNATURE_MISMATCH, UNSUPPORTED_OP, DEVICE_UNAVAILABLE or TOKENIZER_INVALID; every message
 *   names the file.
 * @throws UnsupportedDeviceError for an unknown device.
 */
export async function loadModelPackage(dirOrName: string, options: LoadOptions = {}): Promise<ModelPackage> {
  const dir = await resolveModelDir(dirOrName, options);
  const kind = (await packageKind(dir)) ?? 'skyloom';
  const { manifest, eulerDiscrete } = await readManifest(dir, kind, options.verify ?? true);
  const familyName = familyOfLayout(kind, manifest);
  const family = familyNamed(familyName, kind === 'skyloom' ? join(dir, 'skyloom.json') : dir);

  const sessions = options.sessions ?? defaultSessionCache();
  const device = options.device ?? 'auto';
  const sessionKey: SessionKey = { device, threads: options.threads, ...(family.sessionOptions?.memoryPattern === false ? { memoryPattern: false } : {}) };
  const logger = options.logger ?? silentLogger;
  const metadata = await family.inspect({ dir, kind, manifest, sessions, sessionKey, device });
  logger.info(`loaded model ${manifest.name} (${family.name}) from ${dir}`);

  const tokenizer = await TextTokenizer.load(join(dir, manifest.tokenizer.file), {
    maxLength: manifest.tokenizer.maxLength,
    padId: manifest.tokenizer.padId,
  });
  return new ModelPackage(dir, kind, manifest, tokenizer, eulerDiscrete, sessions, sessionKey, metadata, family);
}
