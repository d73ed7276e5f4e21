// The shipped sample media: installed into the uploads folder at start, listed by GET /api/uploads, served byte for byte.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../engine/index.js';
import { installSamples } from '../../server/samples.js';
import type { UploadList } from '../../protocol/index.js';
import { startServer, tempDir } from './helpers.js';

const ASSETS = join(packageRoot(), 'workflows', 'assets');
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('shipped sample media', () => {
  it('are in <data>/uploads/workflows/assets after start, with the shipped bytes', () => {
    for (const name of ['still.png', 'clip.mp4', 'clip-b.mp4']) {
      const installed = readFileSync(join(server.dataDir, 'uploads', 'workflows', 'assets', name));
      expect(installed.equals(readFileSync(join(ASSETS, name)))).toBe(true);
    }
  });

  it('are listed by GET /api/uploads with their kind and served at the listed url', async () => {
    const list = (await (await fetch(`${server.base}/api/uploads`)).json()) as UploadList;
    const still = list.items.find((i) => i.name === 'workflows/assets/still.png');
    expect(still).toMatchObject({ kind: 'image', size: statSync(join(ASSETS, 'still.png')).size, url: '/api/uploads/workflows/assets/still.png' });
    expect(list.items.find((i) => i.name === 'workflows/assets/clip.mp4')?.kind).toBe('video');
    expect(list.items.some((i) => i.name.endsWith('.py'))).toBe(false);
    const bytes = Buffer.from(await (await fetch(`${server.base}${still!.url}`)).arrayBuffer());
    expect(bytes.equals(readFileSync(join(ASSETS, 'still.png')))).toBe(true);
  });

  it('lists an uploaded file first (newest) and skips half-received files', async () => {
    const form = new FormData();
    form.append('file', new Blob([readFileSync(join(ASSETS, 'clip-b.mp4'))]), 'b.mp4');
    const up = (await (await fetch(`${server.base}/api/uploads`, { method: 'POST', body: form })).json()) as { name: string };
    writeFileSync(join(server.dataDir, 'uploads', '.partial', 'half'), 'x');
    const list = (await (await fetch(`${server.base}/api/uploads`)).json()) as UploadList;
    expect(list.items[0]!.name).toBe(up.name);
    expect(list.items.some((i) => i.name.includes('.partial'))).toBe(false);
  });

  it('re-installs a sample whose size changed and leaves an identical one alone', () => {
    const dir = tempDir();
    installSamples(dir);
    const target = join(dir, 'workflows', 'assets', 'still.png');
    const mtime = statSync(target).mtimeMs;
    expect(installSamples(dir)).toContain('still.png');
    expect(statSync(target).mtimeMs).toBe(mtime);
    writeFileSync(target, 'broken');
    installSamples(dir);
    expect(readFileSync(target).equals(readFileSync(join(ASSETS, 'still.png')))).toBe(true);
  });
});
