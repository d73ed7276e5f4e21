// The server over a real port with a real ws client: queue, events, outputs, range requests, interrupt, delete.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import {
  HistoryEntrySchema,
  ModelsResponseSchema,
  PREVIEW_JPEG_STRIP,
  PREVIEW_WEBP,
  PreviewMetadataSchema,
  QueueResponseSchema,
  ServerMessageSchema,
  SystemInfoSchema,
  type HistoryEntry,
  type PromptResponse,
  type QueueResponse,
} from '../../protocol/index.js';
import { Client, getJson, postJson, raw, settled, startServer, workflow } from './helpers.js';

const ajv = new Ajv({ allErrors: true, strict: false });
/** Asserts a value matches its protocol schema, showing ajv's complaint when not. */
function conforms(schema: object, value: unknown): void {
  const validate = ajv.compile(schema);
  expect(validate(value) ? [] : validate.errors).toEqual([]);
}

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer({ previewIntervalMs: 0 });
});
afterAll(async () => {
  await server?.stop();
});

const sumToFile = (a: number, filename: string, steps = 3, ms = 5) =>
  workflow(
    { id: 'a', type: 'test/number', params: { value: a } },
    { id: 'slow', type: 'test/slow', params: { steps, ms }, inputs: { value: { node: 'a', output: 'value' } } },
    { id: 'save', type: 'test/write-text', params: { filename }, inputs: { value: { node: 'slow', output: 'value' } } },
  );

describe('queue → events → output', () => {
  it('sends the events in order, then the output downloads with its exact bytes', async () => {
    const client = new Client(server.base, { clientId: 'alice', preview: 'jpeg' });
    await client.opened;
    const { status, body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(120, 'order.txt'), clientId: 'alice' });
    expect(status).toBe(200);
    expect(body.promptId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.number).toBeGreaterThan(0);
    await client.ended(body.promptId);

    const types = client.of(body.promptId).map((m) => m.type);
    expect(types).toEqual([
      'execution_start',
      'executing',
      'executed', // a
      'executing',
      'progress',
      'progress',
      'progress',
      'executed', // slow
      'executing',
      'executed', // save
      'execution_success',
    ]);
    const executing = client
      .of(body.promptId)
      .filter((m) => m.type === 'executing')
      .map((m) => (m.data as { nodeId: string }).nodeId);
    expect(executing).toEqual(['a', 'slow', 'save']);
    const progress = client
      .of(body.promptId)
      .filter((m) => m.type === 'progress')
      .map((m) => (m.data as { step: number }).step);
    expect(progress).toEqual([1, 2, 3]);

    const success = client.of(body.promptId).at(-1)!;
    if (success.type !== 'execution_success') throw new Error('expected success');
    const file = success.data.outputs.save.files![0];
    expect(file).toEqual({ filename: 'order.txt', kind: 'text', url: '/api/outputs/order.txt' });
    const download = await fetch(server.base + file.url!);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).toString()).toBe('123\n');

    // Previews arrived as binary frames with the documented header (jpeg asked for).
    await client.waitFor((g) => g.previews.length > 0, 'a preview');
    const p = client.got.previews[0];
    expect(p.type).toBe(PREVIEW_JPEG_STRIP);
    expect(p.metadata).toMatchObject({ promptId: body.promptId, nodeId: 'slow', total: 3, frameCount: 1, width: 1, height: 1, mime: 'image/jpeg' });
    expect([...p.image.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);

    const history = await getJson<HistoryEntry>(server.base, `/api/history/${body.promptId}`);
    expect(history.body.status).toBe('success');
    expect(history.body.executed).toEqual(['a', 'slow', 'save']);
    expect(Object.keys(history.body.timings.nodes).sort()).toEqual(['a', 'save', 'slow']);
    expect(history.body.timings.finishedAt).toBeGreaterThanOrEqual(history.body.timings.startedAt!);
    expect(history.body.outputs.save.files![0].url).toBe('/api/outputs/order.txt');
    expect(history.body.error).toBeNull();
    // What went over the wire matches the protocol's schemas.
    for (const m of client.got.messages) conforms(ServerMessageSchema, m);
    for (const p of client.got.previews) conforms(PreviewMetadataSchema, p.metadata);
    conforms(HistoryEntrySchema, history.body);
    client.close();
  });

  it('answers range requests with 206, Content-Range and exactly those bytes', async () => {
    const { status, body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(-992, 'range.txt', 3, 0) });
    expect(status).toBe(200);
    await settled(server.base, body.promptId);
    expect(readFileSync(join(server.dataDir, 'output', 'range.txt'), 'utf8')).toBe('-989\n');

    const mid = await raw(server.base, 'GET', '/api/outputs/range.txt', { headers: { range: 'bytes=1-3' } });
    expect(mid.status).toBe(206);
    expect(mid.headers['content-range']).toBe('bytes 1-3/5');
    expect(mid.body.toString()).toBe('989');
    expect(mid.headers['accept-ranges']).toBe('bytes');

    const tail = await raw(server.base, 'GET', '/api/outputs/range.txt', { headers: { range: 'bytes=-3' } });
    expect(tail.status).toBe(206);
    expect(tail.body.toString()).toBe('89\n');

    const beyond = await raw(server.base, 'GET', '/api/outputs/range.txt', { headers: { range: 'bytes=50-60' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */5');
  });

  it('sends each client only the events of its own prompts, and status to both', async () => {
    const a = new Client(server.base, { clientId: 'client-a' });
    const b = new Client(server.base, { clientId: 'client-b' });
    await Promise.all([a.opened, b.opened]);
    const pa = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(1, 'a.txt'), clientId: 'client-a' })).body;
    const pb = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(2, 'b.txt'), clientId: 'client-b' })).body;
    await Promise.all([a.ended(pa.promptId), b.ended(pb.promptId)]);
    expect(a.of(pb.promptId)).toEqual([]);
    expect(b.of(pa.promptId)).toEqual([]);
    expect(a.of(pa.promptId).at(-1)!.type).toBe('execution_success');
    expect(b.of(pb.promptId).at(-1)!.type).toBe('execution_success');
    // Every message a client got that names a prompt names its own.
    for (const [c, own] of [
      [a, pa.promptId],
      [b, pb.promptId],
    ] as const) {
      const foreign = c.got.messages.filter((m) => m.type !== 'status' && (m.data as { promptId: string }).promptId !== own);
      expect(foreign).toEqual([]);
      expect(c.got.previews.every((p) => p.metadata.promptId === own)).toBe(true);
      expect(c.got.previews.every((p) => p.type === PREVIEW_WEBP && p.image.subarray(8, 12).toString() === 'WEBP')).toBe(true);
    }
    // Status reaches both: b hears the queue change caused by a's prompt.
    expect(b.got.messages.filter((m) => m.type === 'status').length).toBeGreaterThan(1);
    expect(a.got.messages[0]).toMatchObject({ type: 'status', data: { sid: 'client-a' } });
    a.close();
    b.close();
  });

  it('interrupts a prompt mid-sampling; the next prompt still runs', async () => {
    const client = new Client(server.base, { clientId: 'int', preview: 'none' });
    await client.opened;
    const slow = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(5, 'never.txt', 100000, 20), clientId: 'int' })).body;
    const after = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(6, 'after.txt'), clientId: 'int' })).body;
    await client.waitFor((g) => g.messages.some((m) => m.type === 'progress' && m.data.promptId === slow.promptId && m.data.step >= 2), 'progress');
    const r = await postJson<{ interrupted: boolean; promptId: string }>(server.base, '/api/interrupt', { promptId: slow.promptId });
    expect(r.body).toEqual({ interrupted: true, promptId: slow.promptId });
    await client.ended(slow.promptId);
    const last = client.of(slow.promptId).at(-1)!;
    expect(last).toMatchObject({ type: 'execution_interrupted', data: { promptId: slow.promptId, nodeId: 'slow', executed: ['a'] } });
    const entry = await settled<HistoryEntry>(server.base, slow.promptId);
    expect(entry.status).toBe('interrupted');
    expect(entry.error).toMatchObject({ code: 'interrupted', message: 'Interrupted by a client', nodeId: 'slow' });
    const next = await settled<HistoryEntry>(server.base, after.promptId);
    expect(next.status).toBe('success');
    expect(readFileSync(join(server.dataDir, 'output', 'after.txt'), 'utf8')).toBe('9\n');
    // Nothing half-written of the interrupted one.
    await expect(raw(server.base, 'GET', '/api/outputs/never.txt')).resolves.toMatchObject({ status: 404 });
    client.close();
  });

  it('deletes a queued prompt: it never runs and stays in history as cancelled', async () => {
    const blocker = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(7, 'blocker.txt', 100000, 20) })).body;
    const doomed = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(8, 'doomed.txt') })).body;
    const queue = await getJson<QueueResponse>(server.base, '/api/queue');
    expect(queue.body.pending.map((p) => p.promptId)).toContain(doomed.promptId);

    const del = await fetch(`${server.base}/api/queue/${doomed.promptId}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ deleted: true, promptId: doomed.promptId });
    const again = await fetch(`${server.base}/api/queue/${doomed.promptId}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    const unknown = await fetch(`${server.base}/api/queue/no-such-prompt`, { method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');

    // Wait for the blocker to be running before checking it cannot be deleted.
    for (let i = 0; i < 200 && (await getJson<QueueResponse>(server.base, '/api/queue')).body.running[0]?.promptId !== blocker.promptId; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const running = await fetch(`${server.base}/api/queue/${blocker.promptId}`, { method: 'DELETE' });
    expect(running.status).toBe(409);
    expect(((await running.json()) as { error: { code: string } }).error.code).toBe('prompt_running');
    await postJson(server.base, '/api/interrupt', {});
    await settled(server.base, blocker.promptId);

    const entry = (await getJson<HistoryEntry>(server.base, `/api/history/${doomed.promptId}`)).body;
    expect(entry.status).toBe('cancelled');
    expect(entry.executed).toEqual([]);
    await expect(raw(server.base, 'GET', '/api/outputs/doomed.txt')).resolves.toMatchObject({ status: 404 });
  });

  it('a failing prompt leaves the queue and history intact', async () => {
    const bad = (
      await postJson<PromptResponse>(server.base, '/api/prompt', {
        workflow: workflow({ id: 'f', type: 'test/fail', params: { message: 'kaboom' } }, { id: 'c', type: 'test/collect', inputs: { value: { node: 'f', output: 'value' } } }),
      })
    ).body;
    const good = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: sumToFile(10, 'good.txt', 1, 0) })).body;
    const failed = await settled<HistoryEntry>(server.base, bad.promptId);
    expect(failed.status).toBe('error');
    expect(failed.error).toMatchObject({ code: 'node_failed', nodeId: 'f', nodeType: 'test/fail' });
    expect(failed.error!.message).toContain('kaboom');
    expect((await settled<HistoryEntry>(server.base, good.promptId)).status).toBe('success');
    const list = await getJson<{ items: HistoryEntry[]; total: number }>(server.base, '/api/history?limit=2&offset=0');
    expect(list.body.items.map((i) => i.promptId)).toEqual([good.promptId, bad.promptId]);
    expect(list.body.items[0].workflow).toBeUndefined();
    const older = await getJson<{ items: HistoryEntry[]; total: number }>(server.base, '/api/history?limit=1&offset=1');
    expect(older.body.items.map((i) => i.promptId)).toEqual([bad.promptId]);
    expect(older.body.total).toBe(list.body.total);
  });

  it('serves the catalog, models and system info', async () => {
    const nodes = await getJson<Array<{ type: string }>>(server.base, '/api/nodes');
    expect(nodes.body.map((n) => n.type)).toContain('test/slow');
    const system = await getJson<{ versions: { node: string; skyloom: string }; queue: { pending: number } }>(server.base, '/api/system');
    conforms(SystemInfoSchema, system.body);
    conforms(QueueResponseSchema, (await getJson(server.base, '/api/queue')).body);
    expect(system.body.versions.node).toBe(process.version);
    expect(system.body.versions.skyloom).toMatch(/^\d+\.\d+\.\d+/);
    const models = await getJson<{ models: unknown[] }>(server.base, '/api/models');
    expect(models.status).toBe(200);
    conforms(ModelsResponseSchema, models.body);
    expect(Array.isArray(models.body.models)).toBe(true);
  });
});
