// Package file verification: streamed sha256 of (possibly tens-of-GB) files and the manifest's hash check.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';

// sha256 by (path, size, mtime): a second load of an unchanged file does not read it again.
const verifiedHashes = new Map<string, string>();

/**
 * sha256 (hex) of a file, streamed so multi-gigabyte weights never sit in memory; cached per
 * (path, size, mtime). `onBytes` is called with the bytes read so far (for progress bars).
 * @throws ModelLoadError FILE_MISSING when the file is absent.
 */
export async function sha256File(path: string, onBytes?: (done: number, total: number) => void): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`, { cause: error });
  }
  const key = `${path}\0${info.size}\0${info.mtimeMs}`;
  const cached = verifiedHashes.get(key);
  if (cached !== undefined) {
    onBytes?.(info.size, info.size);
    return cached;
  }
  const hash = createHash('sha256');
  let done = 0;
  // 4 MiB reads: the default 64 KiB makes hashing a 27 GB DiT spend its time in stream overhead.
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onBytes?.(done, info.size);
  }
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
