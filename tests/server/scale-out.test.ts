// Scale-out on BullMQ: a real redis-server, `skyloom serve --queue` and two `skyloom worker` processes on one machine.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry, PromptResponse, SystemInfo, WorkerAnnouncement } from '../../protocol/index.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';
import { Client, getJson, postJson, settled, tempDir, workflow } from './helpers.js';
import { refusedWorker, startRedis, startServe, startWorker, type Proc, type RedisProcess } from './redis.js';

const job = (value: number, filename: string, steps = 2, ms = 1) =>
  workflow(
    { id: 'a', type: 'test/number', params: { value } },
    { id: 'slow', type: 'test/slow', params: { steps, ms }, inputs: { value: { node: 'a', output: 'value' } } },
    { id: 'save', type: 'test/write-text', params: { filename }, inputs: { value: { node: 'slow', output: 'value' } } },
  );

/** A job that names a model package: only a worker with it installed may take it (the model is not loaded: nothing needs its output). */
const needsModel = (model: string, value: number, filename: string) =>
  workflow(
    { id: 'model', type: 'load-model', params: { name: model, device: 'auto' } },
    { id: 'a', type: 'test/number', params: { value } },
    { id: 'save', type: 'test/write-text', params: { filename }, inputs: { value: { node: 'a', output: 'value' } } },
  );

async function queue(base: string, w: unknown, clientId?: string): Promise<string> {
  const r = await postJson<PromptResponse>(base, '/api/prompt', { workflow: w, ...(clientId ? { clientId } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.promptId;
}

async function workersOf(base: string, n: number): Promise<WorkerAnnouncement[]> {
  for (;;) {
    const s = await getJson<SystemInfo>(base, '/api/system');
    if ((s.body.workers ?? []).length >= n) return s.body.workers!;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the prompt runs on some worker; resolves to that worker's id. */
async function runningOn(base: string, promptId: string): Promise<string> {
  for (;;) {
    const e = (await getJson<HistoryEntry>(base, `/api/history/${promptId}`)).body;
    if (e.status === 'running' && e.worker) return e.worker;
    if (e.status !== 'queued' && e.status !== 'running') throw new Error(`prompt ended before it was seen running: ${JSON.stringify(e)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('scale-out: one server, two workers, one Redis', () => {
  let redis: RedisProcess;
  let server: Proc & { base: string };
  let dataDir: string;
  const workers: Record<string, Proc> = {};

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = tempDir();
    server = await startServe(redis.url, dataDir);
    // Only worker "b" has the model package "tiny-x".
    const models = tempDir('skyloom-models-');
    await writeSkyloomPackage(join(models, 'tiny-x'), { name: 'tiny-x' });
    [workers.a, workers.b] = await Promise.all([startWorker(redis.url, dataDir, 'a'), startWorker(redis.url, dataDir, 'b', { env: { SKYLOOM_MODELS: models } })]);
    await workersOf(server.base, 2);
  });

  afterAll(async () => {
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    await server?.stop();
    await redis?.stop();
  });

  it('announces both workers with what they can run', async () => {
    const ws = await workersOf(server.base, 2);
    expect(ws.map((w) => w.id)).toEqual(['a', 'b']);
    expect(ws[0]!.capabilities).toContain('device:cpu');
    expect(ws[0]!.capabilities).not.toContain('model:tiny-x');
    expect(ws[1]!.capabilities).toEqual(expect.arrayContaining(['device:cpu', 'model:tiny-x']));
    const system = await getJson<SystemInfo>(server.base, '/api/system');
    expect(system.body.queueEngine).toBe('redis');
  });

  it('runs 50 prompts spread over both workers; every one completes with its own output', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(await queue(server.base, job(i, `many-${i}.txt`, 2, 5)));
    const entries = await Promise.all(ids.map((id) => settled<HistoryEntry>(server.base, id, 120_000)));
    expect(entries.map((e) => e.status)).toEqual(ids.map(() => 'success'));
    for (let i = 0; i < 50; i++) {
      expect(readFileSync(join(dataDir, 'output', `many-${i}.txt`), 'utf8')).toBe(`${i + 2}\n`);
      expect(entries[i]!.outputs.save!.files![0]).toMatchObject({ filename: `many-${i}.txt`, url: `/api/outputs/many-${i}.txt` });
    }
    const byWorker = new Set(entries.map((e) => e.worker));
    expect([...byWorker].sort()).toEqual(['a', 'b']);
    // What a worker wrote, the server serves.
    const res = await fetch(`${server.base}/api/outputs/many-7.txt`);
    expect(await res.text()).toBe('9\n');
  });

  it("sends each prompt's events, in order, to the client that queued it and to no other", async () => {
    const one = new Client(server.base, { clientId: 'one', preview: 'jpeg' });
    const two = new Client(server.base, { clientId: 'two', preview: 'none' });
    await Promise.all([one.opened, two.opened]);
    // Values no earlier test used: the workers' caches hold nothing of these prompts.
    const p1 = await queue(server.base, job(101, 'ev-1.txt', 5, 60), 'one');
    const p2 = await queue(server.base, job(102, 'ev-2.txt', 5, 60), 'two');
    await Promise.all([one.ended(p1), two.ended(p2)]);
    expect(one.of(p2)).toEqual([]);
    expect(two.of(p1)).toEqual([]);
    for (const [client, id] of [
      [one, p1],
      [two, p2],
    ] as const) {
      const types = client.of(id).map((m) => m.type);
      expect(types[0]).toBe('execution_start');
      expect(types.at(-1)).toBe('execution_success');
      const steps = client.of(id).flatMap((m) => (m.type === 'progress' ? [m.data.step] : []));
      expect(steps).toEqual([1, 2, 3, 4, 5]);
      expect(client.of(id).flatMap((m) => (m.type === 'executed' ? [m.data.nodeId] : []))).toEqual(['a', 'slow', 'save']);
    }
    // Previews cross Redis too, only to the client that asked for them.
    expect(one.got.previews.length).toBeGreaterThan(0);
    expect(one.got.previews.every((p) => p.metadata.promptId === p1 && p.metadata.nodeId === 'slow')).toBe(true);
    expect(two.got.previews).toEqual([]);
    one.close();
    two.close();
  });

  it('routes a prompt that needs a model only to the worker that has it, and fails one no worker can run', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await queue(server.base, needsModel('tiny-x', i, `model-${i}.txt`)));
    const entries = await Promise.all(ids.map((id) => settled<HistoryEntry>(server.base, id)));
    expect(entries.map((e) => [e.status, e.worker])).toEqual(ids.map(() => ['success', 'b']));

    const client = new Client(server.base, { clientId: 'nomodel', preview: 'none' });
    await client.opened;
    const lost = await queue(server.base, needsModel('not-installed', 1, 'never.txt'), 'nomodel');
    const entry = await settled<HistoryEntry>(server.base, lost);
    expect(entry.status).toBe('error');
    expect(entry.error!.code).toBe('no_capable_worker');
    expect(entry.error!.message).toContain('it needs model:not-installed');
    expect(entry.error!.message).toMatch(/b \(device:cpu, [^)]*model:tiny-x/);
    await client.ended(lost);
    expect(client.of(lost).at(-1)).toMatchObject({ type: 'execution_error', data: { code: 'no_capable_worker' } });
    expect(existsSync(join(dataDir, 'output', 'never.txt'))).toBe(false);
    client.close();
  });

  it('interrupts a prompt running in a worker process, and deletes one still waiting', async () => {
    const client = new Client(server.base, { clientId: 'int', preview: 'none' });
    await client.opened;
    // Both workers busy, so the third waits.
    const busy = [await queue(server.base, job(1, 'busy-1.txt', 100000, 20), 'int'), await queue(server.base, job(2, 'busy-2.txt', 100000, 20), 'int')];
    await Promise.all(busy.map((id) => runningOn(server.base, id)));
    const waiting = await queue(server.base, job(3, 'waiting.txt'), 'int');
    const del = await fetch(`${server.base}/api/queue/${waiting}`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ deleted: true, promptId: waiting });
    const again = await fetch(`${server.base}/api/queue/${busy[0]}`, { method: 'DELETE' });
    expect(again.status).toBe(409);

    const r = await postJson<{ interrupted: boolean; promptId: string }>(server.base, '/api/interrupt', { promptId: busy[0] });
    expect(r.body).toEqual({ interrupted: true, promptId: busy[0] });
    const first = await settled<HistoryEntry>(server.base, busy[0]!);
    expect(first.status).toBe('interrupted');
    expect(first.error).toMatchObject({ code: 'interrupted', message: 'Interrupted by a client', nodeId: 'slow' });
    await client.ended(busy[0]!);
    expect(client.of(busy[0]!).at(-1)).toMatchObject({ type: 'execution_interrupted', data: { nodeId: 'slow' } });

    await postJson(server.base, '/api/interrupt', {});
    expect((await settled<HistoryEntry>(server.base, busy[1]!)).status).toBe('interrupted');
    expect((await getJson<HistoryEntry>(server.base, `/api/history/${waiting}`)).body.status).toBe('cancelled');
    expect(existsSync(join(dataDir, 'output', 'waiting.txt'))).toBe(false);
    client.close();
  });

  it('runs a seeds fan-out as one job per seed across the workers, collected into one history entry', async () => {
    const w = workflow(
      { id: 'a', type: 'test/number', params: { value: 0 } },
      { id: 'slow', type: 'test/slow', params: { steps: 2, ms: 20 }, inputs: { value: { node: 'a', output: 'value' } } },
      { id: 'out', type: 'test/collect', inputs: { value: { node: 'slow', output: 'value' } } },
    );
    const r = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: w, seeds: { param: 'a.value', values: [10, 20, 30, 40, 50, 60] } });
    expect(r.status).toBe(200);
    const entry = await settled<HistoryEntry>(server.base, r.body.promptId);
    expect(entry.status).toBe('success');
    expect(entry.outputs).toEqual({
      'out@10': { values: { value: 12 } },
      'out@20': { values: { value: 22 } },
      'out@30': { values: { value: 32 } },
      'out@40': { values: { value: 42 } },
      'out@50': { values: { value: 52 } },
      'out@60': { values: { value: 62 } },
    });
    expect(entry.seeds!.map((s) => [s.seed, s.status])).toEqual([10, 20, 30, 40, 50, 60].map((s) => [s, 'success']));
    expect(new Set(entry.seeds!.map((s) => s.worker)).size).toBeGreaterThanOrEqual(1);
    // One history entry for the whole fan-out, not one per seed.
    const history = await getJson<{ items: HistoryEntry[] }>(server.base, '/api/history?limit=1000');
    expect(history.body.items.filter((i) => i.promptId.startsWith(r.body.promptId))).toHaveLength(1);

    // A seed outside the param's range is refused before anything is queued.
    const bad = await postJson<{ error: { code: string; message: string } }>(server.base, '/api/prompt', { workflow: w, seeds: { param: 'a.value', values: [1, 5000] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_workflow');
    expect(bad.body.error.message).toContain('1000');
    const missing = await postJson<{ error: { code: string } }>(server.base, '/api/prompt', { workflow: w, seeds: { param: 'zz.value', values: [1] } });
    expect(missing.body.error.code).toBe('invalid_seeds');
    expect((await getJson(server.base, '/api/queue')).body).toEqual({ running: [], pending: [] });
  });

  it("refuses a worker whose output folder is not the server's", async () => {
    const r = await refusedWorker(redis.url, tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--data-dir must be the server's data dir");
  });

  it('retries the job of a worker killed mid-run on the other worker', async () => {
    const id = await queue(server.base, job(5, 'killed.txt', 40, 50));
    const first = await runningOn(server.base, id);
    await workers[first]!.stop('SIGKILL');
    const entry = await settled<HistoryEntry>(server.base, id, 60_000);
    expect(entry.status).toBe('success');
    expect(entry.worker).toBe(first === 'a' ? 'b' : 'a');
    expect(readFileSync(join(dataDir, 'output', 'killed.txt'), 'utf8')).toBe('45\n');
    // Its replacement comes back under the same name.
    workers[first] = await startWorker(redis.url, dataDir, first);
  });
});

describe('scale-out faults: Redis and the server restarting', () => {
  let redis: RedisProcess;
  let dataDir: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = tempDir();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await redis?.stop();
  });

  it('loses nothing when Redis restarts mid-run, nor when the server restarts', async () => {
    let server = await startServe(redis.url, dataDir);
    procs.push(server, await startWorker(redis.url, dataDir, 'a'), await startWorker(redis.url, dataDir, 'b'));
    await workersOf(server.base, 2);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await queue(server.base, job(i, `r-${i}.txt`, 20, 50)));
    await runningOn(server.base, ids[0]!);

    // Redis goes away (writing its append-only file) and comes back on the same port and folder.
    await redis.stop();
    redis = await startRedis({ port: redis.port, dir: redis.dir });

    // The server is killed outright while the workers go on, and started again on the same data dir.
    await server.stop('SIGKILL');
    server = await startServe(redis.url, dataDir);
    procs.push(server);
    const entries = await Promise.all(ids.map((id) => settled<HistoryEntry>(server.base, id, 120_000)));
    expect(entries.map((e) => e.status)).toEqual(ids.map(() => 'success'));
    for (let i = 0; i < 12; i++) expect(readFileSync(join(dataDir, 'output', `r-${i}.txt`), 'utf8')).toBe(`${i + 20}\n`);
    const history = await getJson<{ total: number }>(server.base, '/api/history');
    expect(history.body.total).toBe(12);
  });
});
