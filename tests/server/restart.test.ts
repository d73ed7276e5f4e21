// Restarts: `skyloom serve` as a real process, killed mid-run (SIGKILL) or stopped (SIGTERM), then started again on the same data dir.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HistoryEntry, HistoryList, PromptResponse } from '../../protocol/index.js';
import { Client, getJson, postJson, settled, tempDir, workflow } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
const pack = join(root, 'tests/fixtures/test-pack.ts');

interface Served {
  child: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `skyloom serve` from source on a free port; resolves once it printed its URL. */
function startProcess(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), 'serve', '--port', '0', '--data-dir', dataDir, '--nodes', pack], {
    cwd: root,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) =>
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
  return new Promise((res, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      const m = /serving at (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
      if (m) res({ child, base: m[1], exited });
    });
    void exited.then((r) => reject(new Error(`serve exited early (${r.code ?? r.signal}): ${r.stderr}`)));
  });
}

const job = (value: number, filename: string, steps: number, ms: number) =>
  workflow(
    { id: 'a', type: 'test/number', params: { value } },
    { id: 'slow', type: 'test/slow', params: { steps, ms }, inputs: { value: { node: 'a', output: 'value' } } },
    { id: 'save', type: 'test/write-text', params: { filename }, inputs: { value: { node: 'slow', output: 'value' } } },
  );

async function queueThree(base: string): Promise<{ ids: string[]; client: Client }> {
  const client = new Client(base, { clientId: 'restart', preview: 'none' });
  await client.opened;
  const ids: string[] = [];
  for (const [i, w] of [job(1, 'one.txt', 100000, 20), job(2, 'two.txt', 2, 1), job(3, 'three.txt', 2, 1)].entries()) {
    const r = await postJson<PromptResponse>(base, '/api/prompt', { workflow: w, clientId: 'restart' });
    expect(r.status).toBe(200);
    expect(r.body.number).toBe(i + 1);
    ids.push(r.body.promptId);
  }
  // The first is mid-sampling when the process goes.
  await client.waitFor((g) => g.messages.some((m) => m.type === 'progress' && m.data.promptId === ids[0] && m.data.step >= 2), 'progress of the first prompt');
  return { ids, client };
}

/** Runs `skyloom serve` expecting it to refuse and exit. */
function refused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), 'serve', '--port', '0', ...args], { cwd: root });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((res) => child.on('close', (code) => res({ code, stderr })));
}

describe('skyloom serve refuses unsafe or conflicting starts', () => {
  it('will not bind a non-loopback address without a token', async () => {
    const r = await refused(['--host', '0.0.0.0', '--data-dir', tempDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Refusing to listen on 0.0.0.0 without an access token');
  });

  it('will not open a data dir another live server holds', async () => {
    const dataDir = tempDir();
    const first = await startProcess(dataDir);
    try {
      const r = await refused(['--data-dir', dataDir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/data dir is in use by another Skyloom server \(pid \d+/);
      expect((await getJson(first.base, '/api/queue')).status).toBe(200);
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });
});

describe('restart', () => {
  it('after SIGKILL mid-run: the running prompt is failed with a reason, the queued ones run, nothing vanishes', async () => {
    const dataDir = tempDir();
    const first = await startProcess(dataDir);
    const { ids, client } = await queueThree(first.base);
    first.child.kill('SIGKILL');
    client.close();
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await startProcess(dataDir);
    try {
      const [one, two, three] = await Promise.all(ids.map((id) => settled<HistoryEntry>(second.base, id)));
      expect(one.status).toBe('error');
      expect(one.error!.code).toBe('server_stopped');
      expect(one.error!.message).toContain('The server stopped while this prompt was running');
      expect(two.status).toBe('success');
      expect(three.status).toBe('success');
      expect(readFileSync(join(dataDir, 'output', 'two.txt'), 'utf8')).toBe('4\n');
      expect(readFileSync(join(dataDir, 'output', 'three.txt'), 'utf8')).toBe('5\n');
      const history = await getJson<HistoryList>(second.base, '/api/history');
      expect(history.body.items.map((i) => i.promptId).sort()).toEqual([...ids].sort());
      expect((await getJson<{ running: unknown[]; pending: unknown[] }>(second.base, '/api/queue')).body).toEqual({ running: [], pending: [] });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('on SIGTERM: stops cleanly, the running prompt is recorded interrupted, queued ones run after the restart', async () => {
    const dataDir = tempDir();
    const first = await startProcess(dataDir);
    const { ids, client } = await queueThree(first.base);
    // A connected client does not hold the shutdown up: it is told the server is going away.
    const closed = new Promise<number>((res) => client.ws.once('close', (code) => res(code)));
    first.child.kill('SIGTERM');
    const end = await first.exited;
    expect(end.code).toBe(0);
    expect(await closed).toBe(1001);
    expect(client.of(ids[0]).at(-1)).toMatchObject({ type: 'execution_interrupted', data: { nodeId: 'slow' } });
    expect(end.stderr).toContain('SIGTERM: stopping');

    const second = await startProcess(dataDir);
    try {
      const [one, two, three] = await Promise.all(ids.map((id) => settled<HistoryEntry>(second.base, id)));
      expect(one.status).toBe('interrupted');
      expect(one.error).toMatchObject({ code: 'interrupted', message: 'The server shut down while this prompt ran', nodeId: 'slow' });
      expect([two.status, three.status]).toEqual(['success', 'success']);
      expect(two.timings.startedAt).toBeLessThanOrEqual(three.timings.startedAt!);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
