// `skyloom models add`: check a downloaded folder, name its family, hash every file, write its skyloom.json.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { validateManifest } from '../manifest.js';
import type { SkyloomManifest } from '../manifest.js';
import { packageKind } from './discovery.js';
import { synthesizeSdManifest } from './optimum-sd.js';
import { sha256File } from './verify.js';
import { synthesizeWannxManifest } from './wannx.js';

/** Progress of {@link addModelFolder}'s hashing: bytes done of all files, and the file at hand. */
export interface AddProgress {
  file: string;
  done: number;
  total: number;
}

/** Options of {@link addModelFolder}. */
export interface AddOptions {
  /** The package name (default: "wan2.1-t2v-14b" for the wannx bundle, else the folder's name made safe). */
  name?: string;
  onProgress?: (progress: AddProgress) => void;
}

/** Every file under a folder (relative, '/'-separated, sorted), but skyloom.json and hidden files. */
export async function folderFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out.filter((f) => f !== 'skyloom.json' && !f.split('/').some((part) => part.startsWith('.'))).sort();
}

/**
 * Turn a downloaded folder (the wannx Wan2.1 bundle, an Optimum Stable Diffusion export) into a
 * package: recognise its layout and family, stream a sha256 of every file (tens of GB: the
 * progress callback sees every chunk), and write skyloom.json so the normal load path verifies it.
 * @returns the manifest written.
 * @throws ModelLoadError NOT_FOUND when the folder is no known layout (or already has a
 *   skyloom.json), FILE_MISSING naming a file the layout needs, MANIFEST_INVALID for a bad name.
 */
export async function addModelFolder(dir: string, options: AddOptions = {}): Promise<SkyloomManifest> {
  const kind = await packageKind(dir);
  if (kind === 'skyloom') throw new ModelLoadError('NOT_FOUND', join(dir, 'skyloom.json'), `${join(dir, 'skyloom.json')} already exists: ${dir} is a package already`);
  if (kind === undefined) {
    throw new ModelLoadError(
      'NOT_FOUND',
      dir,
      `${dir} is no model folder Skyloom knows: expected the Wan2.1 wannx bundle (dit.onnx or dit_fp16.onnx, t5_encoder_fp16.onnx, vae_decoder.onnx, vae_decoder_init.onnx, google/umt5-xxl/tokenizer.json) or an Optimum Stable Diffusion export (model_index.json, unet/model.onnx)`,
    );
  }
  const manifest = kind === 'wannx' ? await synthesizeWannxManifest(dir) : (await synthesizeSdManifest(dir)).manifest;
  if (options.name !== undefined) manifest.name = options.name;
  else if (kind === 'wannx') manifest.name = 'wan2.1-t2v-14b';
  const files = await folderFiles(dir);
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(dir, f))).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let before = 0;
  manifest.files = {};
  for (const [i, file] of files.entries()) {
    manifest.files[file] = await sha256File(join(dir, file), (done) => options.onProgress?.({ file, done: before + done, total }));
    before += sizes[i] ?? 0;
  }
  const path = join(dir, 'skyloom.json');
  validateManifest(manifest, path);
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
