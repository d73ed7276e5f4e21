// Owns the pretrained ESRGAN upscalers (@upscalerjs/esrgan-slim / -medium): finding their weights, converting them once to a cached .onnx, and running them tiled.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ModelInputError, ModelLoadError } from '../errors.js';
import { defaultSessionCache } from '../package.js';
import { runSession, silentLogger, type Device, type ModelLogger } from '../runtime/onnx.js';
import type { SessionCache } from '../session-cache.js';
import { tensor } from '../tensor.js';
import { convertTfjsModel, readTfjsModel } from './convert-tfjs.js';
import { upscaleTiled, type FloatImage } from './tiles.js';

/**
 * Bumped whenever the converter's output changes, so .onnx files cached by an older converter are
 * not reused (the cache key hashes this with the weights).
 */
export const CONVERTER_VERSION = 1;

/** The npm packages that ship the weights, and the scales each ships (models/x<scale>/model.json). */
export const UPSCALE_PACKAGES = {
  'esrgan-slim': '@upscalerjs/esrgan-slim',
  'esrgan-medium': '@upscalerjs/esrgan-medium',
} as const;

/** Scales each package ships. */
export const UPSCALE_SCALES = [2, 3, 4, 8] as const;

/** Model names as nodes offer them: `<package>-<scale>x`, e.g. `esrgan-slim-4x`. */
export const UPSCALE_MODEL_NAMES: readonly string[] = Object.keys(UPSCALE_PACKAGES).flatMap((p) => UPSCALE_SCALES.map((s) => `${p}-${s}x`));

/** One upscaling model found on disk. */
export interface UpscaleModelInfo {
  /** e.g. `esrgan-slim-4x`. */
  name: string;
  /** e.g. `@upscalerjs/esrgan-slim`. */
  packageName: string;
  version: string;
  license: string;
  scale: number;
  /** Absolute path of the TF.js model.json. */
  modelJson: string;
}

/** Where the converted .onnx files are kept: `$SKYLOOM_CACHE_DIR/upscale`, else `~/.skyloom/cache/upscale`. */
export function defaultUpscaleCacheDir(): string {
  return join(process.env.SKYLOOM_CACHE_DIR ?? join(homedir(), '.skyloom', 'cache'), 'upscale');
}

// Resolved from this module, like an import would be; the packages' `exports` map hides package.json
// from require.resolve, so the node_modules folders are searched directly.
function packageDir(packageName: string): string | undefined {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths(packageName) ?? []) {
    if (existsSync(join(dir, packageName, 'package.json'))) return join(dir, packageName);
  }
  return undefined;
}

function parseName(name: string): { key: keyof typeof UPSCALE_PACKAGES; scale: number } | undefined {
  const match = /^(.+)-(\d+)x$/.exec(name);
  if (match === null || !Object.hasOwn(UPSCALE_PACKAGES, match[1])) return undefined;
  const scale = Number(match[2]);
  return (UPSCALE_SCALES as readonly number[]).includes(scale) ? { key: match[1] as keyof typeof UPSCALE_PACKAGES, scale } : undefined;
}

/**
 * Find an upscaling model's weights in node_modules.
 * @throws ModelLoadError NOT_FOUND for an unknown name (listing the valid ones) or a package that is
 *   not installed; FILE_MISSING when the package lacks that scale's model.json.
 */
export async function findUpscaleModel(name: string): Promise<UpscaleModelInfo> {
  const parsed = parseName(name);
  if (parsed === undefined) {
    throw new ModelLoadError('NOT_FOUND', name, `Unknown upscale model "${name}". Should be one of: ${UPSCALE_MODEL_NAMES.join(', ')}`);
  }
  const packageName = UPSCALE_PACKAGES[parsed.key];
  const dir = packageDir(packageName);
  if (dir === undefined) {
    throw new ModelLoadError('NOT_FOUND', packageName, `Upscale model "${name}" needs the npm package ${packageName}, which is not installed (npm install ${packageName})`);
  }
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: string; license?: string };
  const modelJson = join(dir, 'models', `x${parsed.scale}`, 'model.json');
  if (!existsSync(modelJson)) throw new ModelLoadError('FILE_MISSING', modelJson, `${modelJson}: ${packageName} has no ${parsed.scale}x model`);
  return { name, packageName, version: pkg.version ?? 'unknown', license: pkg.license ?? 'unknown', scale: parsed.scale, modelJson };
}

/** The upscale models whose packages are installed. */
export async function listUpscaleModels(): Promise<UpscaleModelInfo[]> {
  const found: UpscaleModelInfo[] = [];
  for (const name of UPSCALE_MODEL_NAMES) {
    try {
      found.push(await findUpscaleModel(name));
    } catch {
      // not installed: simply not listed
    }
  }
  return found;
}

/** What the cache keeps next to each .onnx file: what the converter learned about the graph. */
export interface ConvertedModelMeta {
  name: string;
  source: string;
  inputName: string;
  outputName: string;
  inputChannels: number;
  outputChannels: number;
  scale: number;
  receptiveRadius: number;
  peakBytesPerInputPixel: number;
}

async function writeAtomically(file: string, bytes: Uint8Array | string): Promise<void> {
  // Rename is atomic within a folder: a reader (another process converting the same model) sees
  // the old file, no file, or the whole new one — never a half-written .onnx.
  const partial = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.partial`;
  try {
    await writeFile(partial, bytes);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Options of {@link prepareUpscaleModel}. */
export interface PrepareOptions {
  /** Default {@link defaultUpscaleCacheDir}. */
  cacheDir?: string;
  logger?: ModelLogger;
}

/**
 * Return the cached ONNX conversion of a model, converting it first when the cache has none for
 * these exact weights (the file name holds the sha256 of model.json, its shards and the converter version).
 * @throws ModelLoadError as {@link readTfjsModel} and {@link convertTfjsModel} (UnsupportedLayerError);
 *   ONNX_INVALID when the graph's scale is not the package's; FILE_MISSING naming the cache folder
 *   when it cannot be written.
 */
export async function prepareUpscaleModel(info: UpscaleModelInfo, options: PrepareOptions = {}): Promise<{ path: string; meta: ConvertedModelMeta }> {
  const cacheDir = options.cacheDir ?? defaultUpscaleCacheDir();
  const model = await readTfjsModel(info.modelJson);
  const hash = createHash('sha256')
    .update(`skyloom-convert-tfjs ${CONVERTER_VERSION}\n`)
    .update(await readFile(info.modelJson));
  for (const group of model.modelJson.weightsManifest) for (const p of group.paths) hash.update(await readFile(join(dirname(info.modelJson), p)));
  const base = join(cacheDir, `${info.packageName.replace(/^@/, '').replace(/\//g, '-')}-${info.scale}x-${hash.digest('hex')}`);
  const onnxPath = `${base}.onnx`;
  const metaPath = `${base}.json`;
  if (existsSync(onnxPath) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as ConvertedModelMeta;
      if (typeof meta.receptiveRadius === 'number' && typeof meta.peakBytesPerInputPixel === 'number') return { path: onnxPath, meta };
    } catch {
      // an unreadable sidecar: convert again below
    }
  }
  const converted = convertTfjsModel(model, {
    docString: `${info.packageName}@${info.version} models/x${info.scale} (license ${info.license}), converted by skyloom convert-tfjs v${CONVERTER_VERSION}`,
  });
  if (converted.scale.height !== info.scale || converted.scale.width !== info.scale) {
    throw new ModelLoadError(
      'ONNX_INVALID',
      info.modelJson,
      `${info.modelJson}: expected a ${info.scale}x model, the graph scales by ${converted.scale.height}x${converted.scale.width}`,
    );
  }
  const meta: ConvertedModelMeta = {
    name: info.name,
    source: `${info.packageName}@${info.version}`,
    inputName: converted.inputName,
    outputName: converted.outputName,
    inputChannels: converted.inputChannels,
    outputChannels: converted.outputChannels,
    scale: info.scale,
    receptiveRadius: converted.receptiveRadius,
    peakBytesPerInputPixel: converted.peakBytesPerInputPixel,
  };
  try {
    await mkdir(cacheDir, { recursive: true });
    await writeAtomically(onnxPath, converted.onnx);
    await writeAtomically(metaPath, JSON.stringify(meta, null, 2));
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', cacheDir, `${cacheDir}: cannot write the converted model (${(error as Error).message})`, { cause: error });
  }
  (options.logger ?? silentLogger).info(`converted ${info.packageName} ${info.scale}x to ${onnxPath}`);
  return { path: onnxPath, meta };
}

/** Options of {@link Upscaler.load}. */
export interface UpscalerOptions extends PrepareOptions {
  device?: Device;
  threads?: number;
  /** Default: the process-wide session cache that model packages use too. */
  sessions?: SessionCache;
}

/** Options of one upscaling call. */
export interface UpscaleCallOptions {
  /** Core tile side in input pixels; 0 or absent picks one from {@link TILE_MEMORY_BYTES} (see {@link Upscaler.autoTile}). */
  tile?: number;
  /** Context pixels per tile side; default the model's receptive radius (tiled then equals untiled). */
  overlap?: number;
  signal?: AbortSignal;
  onTile?: (done: number, total: number) => void;
}

/**
 * Memory one tile may take for its largest activation, and the few tensors ORT holds beside it
 * (counted as 3x): 256 MiB keeps 1080p work flat whatever the frame size.
 */
export const TILE_MEMORY_BYTES = 256 * 1024 * 1024;

// Smaller cores spend most of each call on overlap; larger ones gain little speed on a CPU.
const MIN_TILE = 32;
const MAX_TILE = 512;

/** A loaded ESRGAN upscaler. Sessions live in the session cache; the object itself holds none. */
export class Upscaler {
  private constructor(
    readonly info: UpscaleModelInfo,
    readonly path: string,
    readonly meta: ConvertedModelMeta,
    private readonly sessions: SessionCache,
    private readonly device: Device,
    private readonly threads: number | undefined,
  ) {}

  /**
   * Find, convert (once, cached on disk) and prepare an upscaler by name (see {@link UPSCALE_MODEL_NAMES}).
   * @throws ModelLoadError as {@link findUpscaleModel} and {@link prepareUpscaleModel}.
   */
  static async load(name: string, options: UpscalerOptions = {}): Promise<Upscaler> {
    const info = await findUpscaleModel(name);
    const { path, meta } = await prepareUpscaleModel(info, options);
    return new Upscaler(info, path, meta, options.sessions ?? defaultSessionCache(), options.device ?? 'auto', options.threads);
  }

  /** Output pixels per input pixel. */
  get scale(): number {
    return this.meta.scale;
  }

  /**
   * The tile side that keeps one call within `budgetBytes`: slim 4x gets about 150 px, the 8x
   * models (whose last activation is 192 channels at 8x) the 32 px minimum.
   */
  autoTile(budgetBytes: number = TILE_MEMORY_BYTES): number {
    const pixels = budgetBytes / (3 * this.meta.peakBytesPerInputPixel);
    const side = Math.floor(Math.sqrt(pixels)) - 2 * this.meta.receptiveRadius;
    return Math.min(MAX_TILE, Math.max(MIN_TILE, side));
  }

  /**
   * Run the model on a whole HWC float image (values 0–255) in one call; memory grows with the image.
   * @throws ModelRunError when ONNX Runtime fails; ModelLoadError when the session cannot be created.
   */
  async runWhole(image: FloatImage): Promise<FloatImage> {
    return this.sessions.use(this.path, { device: this.device, threads: this.threads }, (session) => this.runOn(session, image));
  }

  private async runOn(session: Parameters<typeof runSession>[0], image: FloatImage): Promise<FloatImage> {
    const input = tensor('float32', [1, image.height, image.width, image.channels], image.data);
    const out = (await runSession(session, { [this.meta.inputName]: input }, [this.meta.outputName]))[this.meta.outputName];
    return { width: out.dims[2], height: out.dims[1], channels: out.dims[3], data: out.data as Float32Array };
  }

  /**
   * Upscale an HWC float image (values 0–255) tile by tile; see {@link upscaleTiled}.
   * @throws ModelInputError for a bad tile or overlap, or an image without the model's channel count.
   * @throws ModelRunError / ModelLoadError from ONNX Runtime; the signal's reason when aborted.
   */
  async upscaleImage(image: FloatImage, options: UpscaleCallOptions = {}): Promise<FloatImage> {
    if (image.channels !== this.meta.inputChannels) {
      throw new ModelInputError(`${this.info.name} takes ${this.meta.inputChannels}-channel images, got ${image.channels} channels`);
    }
    return this.sessions.use(this.path, { device: this.device, threads: this.threads }, (session) =>
      upscaleTiled(image, this.scale, (tile) => this.runOn(session, tile), {
        tile: options.tile === undefined || options.tile === 0 ? this.autoTile() : options.tile,
        overlap: options.overlap ?? this.meta.receptiveRadius,
        signal: options.signal,
        onTile: options.onTile,
      }),
    );
  }

  /**
   * Upscale RGB24 frames (`count * width * height * 3` bytes) to RGB24 frames `scale` times larger,
   * rounding and clamping the model's output to 0–255.
   * @throws ModelInputError when the byte count is not whole frames; otherwise as {@link Upscaler.upscaleImage}.
   */
  async upscaleFrames(frames: Uint8Array, width: number, height: number, options: UpscaleCallOptions = {}): Promise<Uint8Array> {
    const bytes = width * height * 3;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || frames.byteLength % bytes !== 0) {
      throw new ModelInputError(`expected whole ${width}x${height} RGB24 frames (${bytes} bytes each), got ${frames.byteLength} bytes`);
    }
    if (this.meta.outputChannels !== 3) throw new ModelInputError(`${this.info.name} returns ${this.meta.outputChannels} channels, not RGB`);
    const count = frames.byteLength / bytes;
    const s = this.scale;
    const out = new Uint8Array(count * bytes * s * s);
    for (let f = 0; f < count; f++) {
      const data = Float32Array.from(frames.subarray(f * bytes, (f + 1) * bytes));
      const up = await this.upscaleImage({ width, height, channels: 3, data }, options);
      // Uint8ClampedArray would round half to even; Math.round keeps the usual half-up rounding.
      const target = out.subarray(f * bytes * s * s, (f + 1) * bytes * s * s);
      for (let i = 0; i < up.data.length; i++) target[i] = Math.min(255, Math.max(0, Math.round(up.data[i])));
    }
    return out;
  }
}
