// GET /api/history's paging and filters, and DELETE /api/history/:promptId, on a real server with a real SQLite file.

import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineNode, type WorkflowNode } from '../../engine/index.js';
import {
  DeleteHistoryResponseSchema,
  HistoryListSchema,
  ServerMessageSchema,
  type DeleteHistoryResponse,
  type HistoryEntry,
  type HistoryList,
  type PromptResponse,
} from '../../protocol/index.js';
import { Client, getJson, postJson, settled, startServer, tempDir, testRegistry, workflow } from './helpers.js';

const ajv = new Ajv({ allErrors: true, strict: false });
function conforms(schema: object, value: unknown): void {
  const validate = ajv.compile(schema);
  expect(validate(value) ? [] : validate.errors).toEqual([]);
}

/** Writes `text` to a file of the given kind in the output folder; cached like any node when its params repeat. */
const writeMedia = defineNode({
  type: 'test/write-media',
  version: 1,
  category: 'test',
  description: 'Writes its text to a named file in the output folder and reports it as a video or an image.',
  flags: { output: true },
  inputs: {},
  params: {
    filename: { kind: 'string', default: 'out.mp4' },
    kind: { kind: 'enum', default: 'video', choices: ['video', 'image'] },
    text: { kind: 'string', default: '' },
  },
  run: async ({ filename, kind, text }, ctx) => {
    await mkdir(ctx.outputDir, { recursive: true });
    const path = join(ctx.outputDir, filename);
    await writeFile(path, `${text}\n`.repeat(10));
    ctx.output({ files: [{ path, kind: kind as 'video' | 'image' }] });
  },
});

const media = (filename: string, kind: 'video' | 'image', text: string, title?: string) => ({
  ...workflow({ id: 'save', type: 'test/write-media', params: { filename, kind, text } }),
  ...(title ? { title } : {}),
});
const failing = (title: string) => ({ ...workflow({ id: 'f', type: 'test/fail', params: { message: 'no' } } as WorkflowNode), title });

let server: Awaited<ReturnType<typeof startServer>>;
const dataDir = tempDir();
const ids: Record<string, string> = {};
const numbers: Record<string, number> = {};

async function run(name: string, doc: unknown): Promise<void> {
  const { body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: doc });
  ids[name] = body.promptId;
  numbers[name] = body.number;
  await settled(server.base, body.promptId);
}

const list = (query: string) => getJson<HistoryList>(server.base, `/api/history${query}`);
const names = (l: HistoryList) => l.items.map((i) => Object.keys(ids).find((k) => ids[k] === i.promptId));
const del = async (promptId: string, query = '') => {
  const res = await fetch(`${server.base}/api/history/${promptId}${query}`, { method: 'DELETE' });
  return { status: res.status, body: (await res.json()) as DeleteHistoryResponse & { error?: { code: string; message: string } } };
};

beforeAll(async () => {
  server = await startServer({ dataDir, registry: testRegistry([writeMedia]) });
  await run('A', media('a.mp4', 'video', 'a red circle moving left', 'Sunset loop'));
  await run('B', media('b.png', 'image', 'a blue square', 'Portrait à l’École'));
  await run('C', failing('Broken'));
  await run('D', media('d.mp4', 'video', 'a green triangle'));
  // The same node params as A: its output node comes from the cache, so E names A's file too.
  await run('E', media('a.mp4', 'video', 'a red circle moving left', 'Sunset loop again'));
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /api/history', () => {
  it('lists newest first with each workflow title and the size of each output file', async () => {
    const { status, body } = await list('');
    expect(status).toBe(200);
    conforms(HistoryListSchema, body);
    expect(names(body)).toEqual(['E', 'D', 'C', 'B', 'A']);
    expect(body.items.map((i) => i.title ?? null)).toEqual(['Sunset loop again', null, 'Broken', 'Portrait à l’École', 'Sunset loop']);
    expect(body.items.map((i) => i.status)).toEqual(['success', 'success', 'error', 'success', 'success']);
    const file = body.items[4]!.outputs.save!.files![0]!;
    expect(file).toMatchObject({ filename: 'a.mp4', kind: 'video', url: '/api/outputs/a.mp4' });
    expect(file.size).toBe(statSync(join(dataDir, 'output', 'a.mp4')).size);
    expect(file.size).toBe('a red circle moving left\n'.length * 10);
    expect(body.items[0]!.outputs.save!.files![0]!.filename).toBe('a.mp4');
    expect(body.total).toBe(5);
    expect(body.items[0]!.workflow).toBeUndefined();
    const one = await getJson<HistoryEntry>(server.base, `/api/history/${ids.B}`);
    expect(one.body).toMatchObject({ title: 'Portrait à l’École', outputs: { save: { files: [{ filename: 'b.png', kind: 'image', size: 'a blue square\n'.length * 10 }] } } });
  });

  it('filters by status, by output kind and by text in the title or a prompt, each counted in total', async () => {
    expect(names((await list('?status=success')).body)).toEqual(['E', 'D', 'B', 'A']);
    expect(names((await list('?status=error,interrupted')).body)).toEqual(['C']);
    expect(names((await list('?kind=video')).body)).toEqual(['E', 'D', 'A']);
    expect(names((await list('?kind=image')).body)).toEqual(['B']);
    expect(names((await list('?q=circle')).body)).toEqual(['E', 'A']);
    expect(names((await list('?q=PORTRAIT')).body)).toEqual(['B']);
    expect(names((await list(`?q=${encodeURIComponent('l’École')}`)).body)).toEqual(['B']);
    expect(names((await list('?q=broken')).body)).toEqual(['C']);
    expect((await list('?q=nothing-like-this')).body).toMatchObject({ items: [], total: 0 });
    const combined = (await list('?status=success&kind=video&limit=1')).body;
    expect(names(combined)).toEqual(['E']);
    expect(combined.total).toBe(3);
  });

  it('pages with offset and with a stable `before` cursor', async () => {
    const first = (await list('?limit=2')).body;
    expect(names(first)).toEqual(['E', 'D']);
    const next = (await list(`?limit=2&before=${first.items.at(-1)!.number}`)).body;
    expect(names(next)).toEqual(['C', 'B']);
    expect(next.total).toBe(5);
    expect(names((await list(`?limit=2&offset=1&before=${numbers.D}`)).body)).toEqual(['B', 'A']);
    expect(names((await list(`?kind=video&before=${numbers.D}`)).body)).toEqual(['A']);
  });

  it('refuses a bad query naming the parameter', async () => {
    for (const [query, word] of [
      ['?status=queued', 'status'],
      ['?status=', 'status'],
      ['?kind=gif', 'kind'],
      ['?before=-1', 'before'],
      ['?limit=5000', 'limit'],
      [`?q=${'x'.repeat(201)}`, 'q'],
      ['?kind=video&kind=image', 'kind'],
    ] as const) {
      const { status, body } = await getJson<{ error: { code: string; message: string } }>(server.base, `/api/history${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('invalid_query');
      expect(body.error.message.startsWith(word), body.error.message).toBe(true);
    }
  });
});

describe('DELETE /api/history/:promptId', () => {
  it('keeps a file another record still names, deletes it with the last one, and keeps files by default', async () => {
    const a = await del(ids.A!, '?files=delete');
    expect(a.status).toBe(200);
    conforms(DeleteHistoryResponseSchema, a.body);
    expect(a.body).toEqual({ deleted: true, promptId: ids.A, files: { removed: [], kept: ['a.mp4'], missing: [] } });
    expect(existsSync(join(dataDir, 'output', 'a.mp4'))).toBe(true);
    expect((await getJson(server.base, `/api/history/${ids.A}`)).status).toBe(404);
    expect(names((await list('')).body)).toEqual(['E', 'D', 'C', 'B']);

    expect((await del(ids.E!, '?files=delete')).body.files).toEqual({ removed: ['a.mp4'], kept: [], missing: [] });
    expect(existsSync(join(dataDir, 'output', 'a.mp4'))).toBe(false);
    expect((await fetch(`${server.base}/api/outputs/a.mp4`)).status).toBe(404);

    expect((await del(ids.B!)).body.files).toEqual({ removed: [], kept: ['b.png'], missing: [] });
    expect(readFileSync(join(dataDir, 'output', 'b.png'), 'utf8')).toBe('a blue square\n'.repeat(10));
    expect((await list('')).body.total).toBe(2);
  });

  it('tells every connected client, whoever queued or deleted it, and says nothing when nothing was deleted', async () => {
    const tabs = [new Client(server.base, { clientId: 'tab-one', preview: 'none' }), new Client(server.base, { clientId: 'tab-two', preview: 'none' })];
    try {
      await Promise.all(tabs.map((t) => t.opened));
      const deletions = (t: Client) => t.got.messages.filter((m) => m.type === 'history_deleted');
      expect((await del('no-such-prompt')).status).toBe(404);
      expect((await del(ids.C!, '?files=all')).status).toBe(400);
      expect((await del(ids.C!)).status).toBe(200);
      for (const t of tabs) {
        await t.waitFor(() => deletions(t).length > 0, 'history_deleted');
        conforms(ServerMessageSchema, deletions(t)[0]);
        // The refused deletes before it sent nothing: the only event names C.
        expect(deletions(t)).toEqual([{ type: 'history_deleted', data: { promptId: ids.C } }]);
      }
      expect(names((await list('')).body)).not.toContain('C');
      await run('C', failing('broken again'));
    } finally {
      for (const t of tabs) t.close();
    }
  });

  it('reports a file already gone, and shows it without a size before that', async () => {
    rmSync(join(dataDir, 'output', 'd.mp4'));
    const entry = (await getJson<HistoryEntry>(server.base, `/api/history/${ids.D}`)).body;
    expect(entry.outputs.save!.files![0]!.size).toBeUndefined();
    expect((await del(ids.D!, '?files=delete')).body.files).toEqual({ removed: [], kept: [], missing: ['d.mp4'] });
  });

  it('answers 404 for an unknown prompt, 400 for a bad files value, 409 for a queued or running one', async () => {
    expect((await del(ids.B!)).status).toBe(404);
    expect((await del('no-such-prompt')).body.error!.code).toBe('not_found');
    const bad = await del(ids.C!, '?files=all');
    expect(bad.status).toBe(400);
    expect(bad.body.error!.message).toContain('files must be keep or delete');

    const long = workflow(
      { id: 'n', type: 'test/number', params: { value: 1 } },
      { id: 's', type: 'test/slow', params: { steps: 1000, ms: 20 }, inputs: { value: { node: 'n', output: 'value' } } },
      { id: 'out', type: 'test/write-text', params: { filename: 'long.txt' }, inputs: { value: { node: 's', output: 'value' } } },
    );
    const slow = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: long })).body;
    const waiting = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: media('w.mp4', 'video', 'waits') })).body;
    await expect.poll(async () => (await getJson<HistoryEntry>(server.base, `/api/history/${slow.promptId}`)).body.status).toBe('running');
    const running = await del(slow.promptId);
    expect(running.status).toBe(409);
    expect(running.body.error).toMatchObject({ code: 'prompt_unfinished' });
    expect(running.body.error!.message).toContain('POST /api/interrupt');
    const queued = await del(waiting.promptId);
    expect(queued.status).toBe(409);
    expect(queued.body.error!.message).toContain(`DELETE /api/queue/${waiting.promptId}`);
    await postJson(server.base, '/api/interrupt', {});
    await settled(server.base, waiting.promptId);
  });

  it('stays deleted across a restart (the SQLite file holds the change)', async () => {
    await server.stop();
    server = await startServer({ dataDir, registry: testRegistry([writeMedia]) });
    const after = (await list('?limit=100')).body;
    for (const gone of ['A', 'B', 'D', 'E']) expect(after.items.map((i) => i.promptId)).not.toContain(ids[gone]);
    expect(after.items.map((i) => i.promptId)).toContain(ids.C);
  });
});
