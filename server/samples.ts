// Owns the shipped sample media: copies workflows/assets into the uploads folder so every shipped template runs unchanged.

import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { packageRoot } from '../engine/index.js';

/** The folder, relative to the uploads folder, the shipped templates name their inputs under. */
export const SAMPLES_PREFIX = 'workflows/assets';

const MEDIA = new Set(['.png', '.jpg', '.jpeg', '.webp', '.mp4', '.webm']);

/**
 * Copies the shipped sample media (workflows/assets/*.png, *.mp4, …) to `<uploads>/workflows/assets/`,
 * where the templates' `path` params ("workflows/assets/still.png") resolve on a server. A file
 * already there with the same size is left alone, so a restart costs a few stats (it runs once, synchronously, while the server is built); one the
 * operator replaced with different bytes of a different size is overwritten by the shipped one.
 * @returns the names installed or already present
 * @throws the file system's error when the uploads folder cannot be written
 */
export function installSamples(uploadsDir: string, from = join(packageRoot(), SAMPLES_PREFIX)): string[] {
  let names: string[];
  try {
    names = readdirSync(from).filter((n) => MEDIA.has(extname(n).toLowerCase()));
  } catch {
    return []; // an installation without the samples folder has nothing to install
  }
  const target = join(uploadsDir, SAMPLES_PREFIX);
  mkdirSync(target, { recursive: true });
  for (const name of names) {
    const src = join(from, name);
    const dst = join(target, name);
    const a = statSync(src);
    const b = statSync(dst, { throwIfNoEntry: false });
    if (!b || b.size !== a.size) copyFileSync(src, dst);
  }
  return names.sort();
}
