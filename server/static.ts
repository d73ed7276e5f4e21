// Owns serving the built editor: hashed assets cached forever, everything text-like compressed (brotli or gzip) once and kept.

import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { NextFunction, Request, Response } from 'express';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.webp': 'image/webp',
  '.wasm': 'application/wasm',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.wasm']);

// Vite names built assets `name-<hash>.ext` under assets/: their content never changes under that name.
const HASHED = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

interface Entry {
  mtimeMs: number;
  raw: Buffer;
  br?: Buffer;
  gz?: Buffer;
}

/** Which encoding to send for an Accept-Encoding header: brotli first, then gzip, else none. */
export function pickEncoding(accept: string | undefined): 'br' | 'gzip' | undefined {
  const offered = new Map<string, number>();
  for (const part of (accept ?? '').toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find((m) => m);
    offered.set(name, q ? Number(q[1]) : 1);
  }
  const ok = (n: string) => (offered.get(n) ?? offered.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return undefined;
}

/**
 * Express middleware serving `dir` at `/`: `index.html` for `/`, hashed assets with
 * `Cache-Control: public, max-age=31536000, immutable`, the rest `no-cache` (so a new build shows
 * at once), and text files compressed with brotli or gzip when the client accepts it. Compressed
 * bodies are made once per file version and kept in memory (the editor's build is a few hundred KiB).
 * Requests for files that are not there fall through to `next()`.
 */
export function serveEditor(dir: string): (req: Request, res: Response, next: NextFunction) => Promise<void> {
  const root = normalize(dir);
  const cache = new Map<string, Entry>();
  return async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      return next();
    }
    if (path === '/' || path === '') path = '/index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || path.split('/').some((s) => s.startsWith('.'))) return next();
    let info;
    try {
      info = await stat(file);
    } catch {
      return next();
    }
    if (!info.isFile()) return next();
    let entry = cache.get(file);
    if (!entry || entry.mtimeMs !== info.mtimeMs) {
      entry = { mtimeMs: info.mtimeMs, raw: await readFile(file) };
      cache.set(file, entry);
    }
    const ext = extname(file).toLowerCase();
    res.setHeader('Content-Type', TYPES[ext] ?? 'application/octet-stream');
    res.setHeader('Cache-Control', HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.setHeader('Last-Modified', new Date(info.mtimeMs).toUTCString());
    let body = entry.raw;
    if (COMPRESSIBLE.has(ext) && entry.raw.length > 512) {
      res.setHeader('Vary', 'Accept-Encoding');
      const encoding = pickEncoding(req.headers['accept-encoding']);
      if (encoding === 'br') {
        entry.br ??= await brotli(entry.raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: entry.raw.length } });
        body = entry.br;
      } else if (encoding === 'gzip') {
        entry.gz ??= await gzipAsync(entry.raw, { level: 9 });
        body = entry.gz;
      }
      if (encoding) res.setHeader('Content-Encoding', encoding);
    }
    res.setHeader('Content-Length', body.length);
    res.status(200).end(req.method === 'HEAD' ? undefined : body);
  };
}
