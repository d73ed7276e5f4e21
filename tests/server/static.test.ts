// Serving the built editor: brotli or gzip by Accept-Encoding with the exact bytes back, immutable hashed assets, no-cache pages.

import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickEncoding } from '../../server/static.js';
import { startServer, tempDir } from './helpers.js';

const editorDir = tempDir('skyloom-editor-');
const js = `export const big = ${JSON.stringify('skyloom '.repeat(4000))};\n`;
const html = `<!doctype html><title>Skyloom</title><script type="module" src="/assets/index-AbC123xy.js"></script>${' '.repeat(600)}`;
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  mkdirSync(join(editorDir, 'assets'));
  writeFileSync(join(editorDir, 'index.html'), html);
  writeFileSync(join(editorDir, 'assets', 'index-AbC123xy.js'), js);
  server = await startServer({ editorDir });
});
afterAll(async () => {
  await server?.stop();
});

/** A raw GET (fetch would decode the body): status, headers and the bytes as sent. */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.base}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serving the editor', () => {
  it('sends a hashed asset brotli-compressed, decoding to the same bytes, cached as immutable', async () => {
    const r = await get('/assets/index-AbC123xy.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('br');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers['vary']).toBe('Accept-Encoding');
    expect(r.body.length).toBeLessThan(js.length / 10);
    expect(brotliDecompressSync(r.body).toString()).toBe(js);
  });

  it('falls back to gzip, then to the plain bytes', async () => {
    const gz = await get('/assets/index-AbC123xy.js', { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(js);
    const plain = await get('/assets/index-AbC123xy.js', { 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toBe(js);
  });

  it('serves the page at / with no-cache, so a new build shows at once', async () => {
    const r = await get('/', { 'accept-encoding': 'br' });
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(brotliDecompressSync(r.body).toString()).toBe(html);
    expect((await get('/nope.js')).status).toBe(404);
    expect((await get('/assets/../../etc/passwd')).status).toBe(404);
  });

  it('reads Accept-Encoding with its q-values', () => {
    expect(pickEncoding('gzip, br;q=0')).toBe('gzip');
    expect(pickEncoding('br;q=0.5, gzip')).toBe('br');
    expect(pickEncoding('identity')).toBeUndefined();
    expect(pickEncoding(undefined)).toBeUndefined();
    expect(pickEncoding('*')).toBe('br');
  });
});
