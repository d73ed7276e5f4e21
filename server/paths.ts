// Owns path confinement: turning a client-supplied relative path into a real file inside one folder, or refusing.

import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { NotFoundError, PathEscapeError } from './errors.js';

/**
 * Checks the segments of a client path (already URL-decoded) without touching the disk.
 * @throws PathEscapeError for `..`, `.`, empty segments (an absolute path), separators or NUL inside a segment
 */
export function checkSegments(segments: readonly string[]): void {
  if (segments.length === 0) throw new PathEscapeError('A file path is required');
  for (const s of segments) {
    // A decoded %2f or %5c would smuggle a separator into one segment; NUL truncates paths in C code below us.
    if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) {
      throw new PathEscapeError(`The path ${JSON.stringify(segments.join('/'))} is not a plain path inside its folder`);
    }
  }
}

/**
 * Resolves a relative path inside `root` and proves the real file (symlinks followed) is still inside it.
 * @returns the absolute real path of an existing file
 * @throws PathEscapeError when the path, or a symlink on it, leads outside `root`
 * @throws NotFoundError when nothing exists there
 */
export async function resolveInside(root: string, segments: readonly string[]): Promise<string> {
  checkSegments(segments);
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(join(realRoot, ...segments));
  } catch {
    throw new NotFoundError(`No such file: ${segments.join('/')}`);
  }
  const rel = relative(realRoot, real);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new PathEscapeError(`The path ${JSON.stringify(segments.join('/'))} leads outside its folder`);
  }
  return real;
}

/** The `/`-separated path of `file` relative to `root`, or undefined when it is not inside `root`. */
export function relativeInside(root: string, file: string): string | undefined {
  const rel = relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}
