// A Redis outage: POST /api/prompt answers 503 with Retry-After at once, a retried Idempotency-Key runs the prompt once, and a job that finished while Redis was away is not run again when it returns.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, HistoryEntry, PromptResponse } from '../../protocol/index.js';
import { Client, getJson, settled, tempDir, workflow } from './helpers.js';
import { startRedis, startServe, startWorker, type Proc, type RedisProcess } from './redis.js';

const job = (value: number, filename: string, steps = 2, ms = 1) =>
  workflow(
    { id: 'a', type: 'test/number', params: { value } },
    { id: 'slow', type: 'test/slow', params: { steps, ms }, inputs: { value: { node: 'a', output: 'value' } } },
    { id: 'save', type: 'test/write-text', params: { filename }, inputs: { value: { node: 'slow', output: 'value' } } },
  );

async function post(base: string, body: unknown, key?: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${base}/api/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe('a Redis outage', () => {
  let redis: RedisProcess;
  let server: Proc & { base: string };
  let worker: Proc;
  let dataDir: string;

  beforeAll(async () => {
    redis = await startRedis();
    dataDir = tempDir();
    server = await startServe(redis.url, dataDir);
    worker = await startWorker(redis.url, dataDir, 'w1');
  });
  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await redis?.stop();
  });

  const restartRedis = async () => {
    redis = await startRedis({ port: redis.port, dir: redis.dir });
  };

  it('POST /api/prompt is a 503 with Retry-After while Redis is down, and a retried key runs the prompt once', async () => {
    await redis.stop();
    const wf = job(5, 'keyed.txt');
    const down = await post(server.base, { workflow: wf }, 'key-1');
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect((down.body as ErrorBody).error.code).toBe('queue_unavailable');
    expect((down.body as ErrorBody).error.message).toContain('nothing was queued');
    expect((await getJson<{ pending: unknown[] }>(server.base, '/api/queue')).body.pending).toEqual([]);
    expect((await getJson<{ total: number }>(server.base, '/api/history')).body.total).toBe(0);

    await restartRedis();
    // The client retries with its key until the queue takes it (the server reconnects by itself).
    let first: { status: number; body: unknown } = down;
    for (let i = 0; i < 200 && first.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      first = await post(server.base, { workflow: wf }, 'key-1');
    }
    expect(first.status).toBe(200);
    const { promptId } = first.body as PromptResponse;
    const again = await post(server.base, { workflow: wf }, 'key-1');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await post(server.base, { workflow: job(6, 'other.txt') }, 'key-1');
    expect(other.status).toBe(409);
    expect((other.body as ErrorBody).error.code).toBe('idempotency_conflict');

    const entry = await settled<HistoryEntry>(server.base, promptId);
    expect(entry.status).toBe('success');
    expect(readFileSync(join(dataDir, 'output', 'keyed.txt'), 'utf8')).toBe('7\n');
    const history = await getJson<{ items: HistoryEntry[] }>(server.base, '/api/history');
    expect(history.body.items.map((i) => i.promptId)).toEqual([promptId]);
  });

  it('a job that finished while Redis was down is not run again when it returns; its output is the one recorded', async () => {
    const client = new Client(server.base, { clientId: 'watcher' });
    await client.opened;
    const r = await post(server.base, { workflow: job(1, 'during.txt', 20, 100), clientId: 'watcher' }, 'key-2');
    expect(r.status).toBe(200);
    const { promptId } = r.body as PromptResponse;
    await client.waitFor((g) => g.messages.some((m) => m.type === 'progress' && (m.data as { promptId: string }).promptId === promptId), 'the prompt running');
    await redis.stop();
    // The worker finishes meanwhile and records the result; Redis is away long past the job's 2 s lock.
    const recorded = join(dataDir, 'output', '.skyloom-results', `${promptId}.json`);
    const deadline = Date.now() + 30_000;
    while (!existsSync(recorded)) {
      if (Date.now() > deadline) throw new Error('the worker did not finish the prompt');
      await new Promise((res) => setTimeout(res, 50));
    }
    await new Promise((res) => setTimeout(res, 3000));
    await restartRedis();

    const entry = await settled<HistoryEntry>(server.base, promptId, 60_000);
    expect(entry.status).toBe('success');
    expect(entry.outputs.save!.files!.map((f) => f.filename)).toEqual(['during.txt']);
    expect(readFileSync(join(dataDir, 'output', 'during.txt'), 'utf8')).toBe('21\n');
    // Run once: one start, and the worker said it handed over the recorded result.
    const starts = client.of(promptId).filter((m) => m.type === 'execution_start');
    expect(starts).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 500));
    expect(worker.stderr).toContain(`prompt ${promptId} already ran (worker w1); its recorded result is handed over, not run again`);
    client.close();
  });
});
