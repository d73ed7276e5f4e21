// Package discovery: the search paths, listing installed packages, and resolving a name or folder.
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from '../errors.js';
import { exists, readJson } from './files.js';
import { isOptimumSdExport } from './optimum-sd.js';
import { isWannxLayout } from './wannx.js';

/**
 * How a package folder was recognised: a skyloom.json manifest, a plain Optimum Stable Diffusion
 * export, or the wannx Wan2.1 bundle as downloaded.
 */
export type PackageKind = 'skyloom' | 'stable-diffusion' | 'wannx';

/** One entry of {@link listModels}. */
export interface ModelListing {
  name: string;
  dir: string;
  kind: PackageKind;
  /** The model family (models/families/): skyloom.json's `family`, or the layout's. */
  family?: string;
  version?: string;
  description?: string;
  license?: string;
  /** Bytes of the files the manifest lists (a skyloom.json package) or of the whole folder. */
  sizeBytes?: number;
  /** What it can make: t2v, i2v, extend, v2v (from its family and manifest). */
  capabilities?: string[];
}

/** Fills in a listing's size and capabilities (set by the families registry, which discovery must not import). */
let describe: ((listing: ModelListing) => Promise<void>) | undefined;

/** Called once by models/package.ts so that listings carry family capabilities and sizes. */
export function setListingDescriber(fn: (listing: ModelListing) => Promise<void>): void {
  describe = fn;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Where packages are looked up. */
export interface SearchOptions {
  /** Replaces {@link modelSearchPaths}; later entries override earlier ones by name. */
  searchPaths?: readonly string[];
}

// Folder of this module's package: <repo>/models/packages, also when running from dist/models/package/.
function repoPackagesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (basename(dir) !== 'models' && dirname(dir) !== dir) dir = dirname(dir);
  const parent = dirname(dir);
  const repo = basename(parent) === 'dist' ? dirname(parent) : parent;
  return join(repo, 'models', 'packages');
}

/** Default search paths: `<repo>/models/packages`, `~/.skyloom/models`, then each `$SKYLOOM_MODELS` entry. */
export function modelSearchPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env['SKYLOOM_MODELS'] ?? '').split(delimiter).filter((p) => p !== '');
  return [repoPackagesDir(), join(homedir(), '.skyloom', 'models'), ...extra.map((p) => resolve(p))];
}

/** How `dir` is laid out, or undefined when it is not a package. A skyloom.json wins over any layout. */
export async function packageKind(dir: string): Promise<PackageKind | undefined> {
  if (await exists(join(dir, 'skyloom.json'))) return 'skyloom';
  if (await isOptimumSdExport(dir)) return 'stable-diffusion';
  if (await isWannxLayout(dir)) return 'wannx';
  return undefined;
}

/** The family a layout implies; for a skyloom.json its `family` field, defaulting to "skyloom". */
export function familyOfLayout(kind: PackageKind, manifest?: { family?: unknown }): string {
  if (kind === 'stable-diffusion') return 'stable-diffusion';
  if (kind === 'wannx') return 'wan';
  return typeof manifest?.family === 'string' ? manifest.family : 'skyloom';
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
      // A symlink to a folder counts: `skyloom models add` links a downloaded folder into ~/.skyloom/models.
      const entries = await readdir(root, { withFileTypes: true });
      names = [];
      for (const d of entries) if (d.isDirectory() || (d.isSymbolicLink() && (await isDirectory(join(root, d.name))))) names.push(d.name);
    } catch {
      continue; // a search path that does not exist is normal (~/.skyloom/models on a fresh machine)
    }
    for (const name of names.sort()) {
      const dir = join(root, name);
      const kind = await packageKind(dir);
      if (kind === undefined) continue;
      const listing: ModelListing = { name, dir, kind, family: familyOfLayout(kind) };
      if (kind === 'skyloom') {
        try {
          const raw = (await readJson(join(dir, 'skyloom.json'))) as Partial<Record<string, unknown>>;
          listing.family = familyOfLayout(kind, raw);
          if (typeof raw['version'] === 'string') listing.version = raw['version'];
          if (typeof raw['description'] === 'string') listing.description = raw['description'];
          if (typeof raw['license'] === 'string') listing.license = raw['license'];
        } catch {
          // listed anyway; loading it reports the problem with its path
        }
      }
      if (describe !== undefined) {
        try {
          await describe(listing);
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
      throw new ModelLoadError(
        'NOT_FOUND',
        dir,
        `${dir} is not a model package (no skyloom.json, no model_index.json with unet/model.onnx, and no Wan2.1 wannx files such as t5_encoder_fp16.onnx)`,
      );
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
