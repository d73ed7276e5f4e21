// Storage you can trust: an emptied or corrupt database refuses to start (or is repaired on request), a full disk is a 507 that leaves nothing half-written and the history right, and what unfinished writes left is swept and never served.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ErrorBody } from '../../protocol/index.js';
import { createApp } from '../../server/app.js';
import { DatabaseUnusableError, Store } from '../../server/store.js';
import { getJson, postJson, quietLog, raw, settled, startServer, tempDir, testRegistry, workflow } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
const appIn = (dataDir: string, repair = false) => createApp({ dataDir, registry: testRegistry(), log: quietLog, repair });

/** A data dir whose database holds `n` finished prompts. */
function dataDirWithHistory(n: number): string {
  const dir = tempDir();
  const store = new Store(join(dir, 'skyloom.db'));
  for (let i = 0; i < n; i++) {
    const id = `p${i}`;
    store.enqueue(id, workflow({ id: 'a', type: 'test/number', params: { value: i } }), null);
    store.claimNext();
    store.finish(id, { status: 'success', outputs: { a: { values: { value: i } } } });
  }
  store.close();
  return dir;
}

describe('opening the database', () => {
  it('refuses an existing 0-byte database, saying what to do, and leaves it as it was', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'skyloom.db'), '');
    let error: unknown;
    try {
      appIn(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatabaseUnusableError);
    expect((error as DatabaseUnusableError).code).toBe('database_empty');
    expect((error as Error).message).toContain(`The database ${join(dir, 'skyloom.db')} exists but is empty (0 bytes)`);
    expect((error as Error).message).toContain('If this is a new install, delete the file');
    expect((error as Error).message).toContain('--repair');
    expect(statSync(join(dir, 'skyloom.db')).size).toBe(0);
    // The lock was let go: a second try gets the same answer, not "in use".
    expect(() => appIn(dir)).toThrow(/exists but is empty/);
  });

  it('refuses a database with garbage in page 2, naming the file and the repair', () => {
    const dir = dataDirWithHistory(30);
    const file = join(dir, 'skyloom.db');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096);
    closeSync(fd);
    const before = readFileSync(file);
    expect(() => appIn(dir)).toThrow(
      new RegExp(`The database ${file.replace(/[/.]/g, '\\$&')} is corrupt \\(.+\\)\\. Stop the server and restore .* from a backup, or start with --repair`),
    );
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('--repair moves the corrupt file aside, keeps it, and starts with what could be read; numbers are not reused', async () => {
    const dir = dataDirWithHistory(30);
    const file = join(dir, 'skyloom.db');
    // The last page holds the newest rows; the table's root and the first rows stay readable.
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, size - 4096);
    closeSync(fd);
    const corrupt = readFileSync(file);
    expect(() => appIn(dir)).toThrow(/is corrupt/);
    const sky = appIn(dir, true);
    try {
      const aside = readdirSync(dir).filter((f) => f.startsWith('skyloom.db.corrupt-') && !/-(wal|shm)$/.test(f));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0]!)).equals(corrupt)).toBe(true);
      const kept = sky.store.history({ limit: 100, offset: 0 });
      expect(kept.total).toBeGreaterThan(0);
      for (const item of kept.items) expect(item.outputs).toEqual({ a: { values: { value: item.number - 1 } } });
      const { number } = sky.store.enqueue('new', workflow(), null);
      expect(number).toBeGreaterThan(Math.max(...kept.items.map((i) => i.number)));
    } finally {
      await sky.close();
    }
  });

  it('skyloom serve on a 0-byte database exits with the message, without listening', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'skyloom.db'), '');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), 'serve', '--port', '0', '--data-dir', dir], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain('serving at');
    expect(r.stderr).toContain(`The database ${join(dir, 'skyloom.db')} exists but is empty (0 bytes)`);
  });

  it('a missing database is a fresh install and starts', async () => {
    const sky = appIn(tempDir());
    await sky.close();
  });
});

describe('unfinished writes', () => {
  it('are swept at start and never served', async () => {
    const dir = tempDir();
    for (const d of ['output', 'uploads/.partial', 'workflows']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'output', 'skyloom_00001.mp4'), '');
    writeFileSync(join(dir, 'output', '.skyloom_00001.mp4.0a1b2c.partial'), 'half a video');
    writeFileSync(join(dir, 'output', 'kept_00001.txt'), 'a finished output\n');
    writeFileSync(join(dir, 'uploads', '.partial', 'a3f0'), 'half an upload');
    writeFileSync(join(dir, 'workflows', '.9c1d.partial'), '{"half":');
    const s = await startServer({ dataDir: dir });
    try {
      expect(readdirSync(join(dir, 'output')).sort()).toEqual(['kept_00001.txt']);
      expect(readdirSync(join(dir, 'uploads', '.partial'))).toEqual([]);
      expect(readdirSync(join(dir, 'workflows'))).toEqual([]);
      expect((await raw(s.base, 'GET', '/api/outputs/kept_00001.txt')).body.toString()).toBe('a finished output\n');
      // Appearing while the server runs (a write in progress): still not served.
      writeFileSync(join(dir, 'output', 'claimed_00001.mp4'), '');
      writeFileSync(join(dir, 'output', '.claimed_00001.mp4.ffee.partial'), 'bytes so far');
      expect((await raw(s.base, 'GET', '/api/outputs/claimed_00001.mp4')).status).toBe(404);
      expect((await raw(s.base, 'GET', '/api/outputs/.claimed_00001.mp4.ffee.partial')).status).toBe(404);
    } finally {
      await s.stop();
    }
  });
});

const asRoot = process.getuid?.() === 0;
let canMount = false;
if (asRoot) {
  const probe = tempDir('skyloom-mount-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    canMount = true;
  } catch {
    canMount = false;
  }
}

/** Writes until the disk refuses another byte. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

// Mounting a tmpfs needs root (CI runs as root); elsewhere this is skipped rather than faked.
describe.skipIf(!canMount)('a full disk (a 24 MiB tmpfs as the data dir; needs root to mount)', () => {
  it('is a 507 for uploads, saved workflows and new prompts, with nothing half-written; the running prompt is recorded as the success it was', async () => {
    const dir = tempDir('skyloom-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
    const s = await startServer({ dataDir: dir });
    try {
      const text = 'x'.repeat(60_000);
      const wf = (name: string, ms: number) =>
        workflow(
          { id: 't', type: 'text', params: { value: text } },
          { id: 'w', type: 'test/write-text', params: { filename: name, ms }, inputs: { value: { node: 't', output: 'text' } } },
        );
      const a = await postJson<{ promptId: string }>(s.base, '/api/prompt', { workflow: wf('a.txt', 4000) });
      expect(a.status).toBe(200);
      const deadline = Date.now() + 20_000;
      while (!existsSync(join(dir, 'output', 'a.txt.partial'))) {
        if (Date.now() > deadline) throw new Error('the prompt did not start writing');
        await new Promise((r) => setTimeout(r, 20));
      }
      // Filled again before each request: whatever the server freed meanwhile (SQLite giving back
      // pages after a failed write) is taken too, so each request meets a disk that is really full.
      let fillers = 0;
      const full = () => fill(join(dir, `filler${fillers++}`));
      full();

      const b = await postJson<ErrorBody>(s.base, '/api/prompt', { workflow: wf('b.txt', 0) });
      expect(b.status).toBe(507);
      expect(b.body.error.code).toBe('insufficient_storage');

      full();
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 9, g: 99, b: 199 } } })
        .png({ compressionLevel: 0 })
        .toBuffer();
      const form = new FormData();
      form.append('file', new Blob([png]), 'a.png');
      const up = await fetch(`${s.base}/api/uploads`, { method: 'POST', body: form });
      expect(up.status).toBe(507);
      expect(((await up.json()) as ErrorBody).error.code).toBe('insufficient_storage');
      expect(readdirSync(join(dir, 'uploads', '.partial'))).toEqual([]);
      // workflows/ holds the shipped sample media, installed at start.
      expect(readdirSync(join(dir, 'uploads')).filter((f) => f !== '.partial' && f !== 'workflows')).toEqual([]);

      full();
      const doc = { format: 'skyloom-workflow', version: 1, title: 'y'.repeat(60_000), nodes: [] };
      const put = await fetch(`${s.base}/api/workflows/big`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      expect(put.status).toBe(507);
      expect(readdirSync(join(dir, 'workflows'))).toEqual([]);

      const entry = await settled<{ status: string; outputs: Record<string, { files: Array<{ filename: string }> }> }>(s.base, a.body.promptId);
      expect(entry.status).toBe('success');
      // Its record met the full disk too: the reserve kept for results was spent on it.
      expect(existsSync(join(dir, '.skyloom-reserve'))).toBe(false);
      expect(entry.outputs.w!.files.map((f) => f.filename)).toEqual(['a.txt']);
      expect(readFileSync(join(dir, 'output', 'a.txt'), 'utf8')).toBe(`${text}\n`);
      expect(readdirSync(join(dir, 'output')).filter((f) => f.endsWith('.partial'))).toEqual([]);
      const queue = await getJson<{ pending: unknown[] }>(s.base, '/api/queue');
      expect(queue.body.pending).toEqual([]);

      for (let i = 0; i < fillers; i++) rmSync(join(dir, `filler${i}`));
      const again = await postJson<{ promptId: string }>(s.base, '/api/prompt', { workflow: wf('b.txt', 0) });
      expect(again.status).toBe(200);
      expect((await settled(s.base, again.body.promptId)).status).toBe('success');
      expect(statSync(join(dir, '.skyloom-reserve')).size).toBe(1024 * 1024);
    } finally {
      await s.stop();
      execFileSync('umount', [dir]);
    }
  });
});
