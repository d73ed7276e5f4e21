// Words the model does not know, and backgrounds it cannot draw: skyloom-tiny names them, and the warning reaches the CLI, the WebSocket and the history.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineNode, Executor, type ExecutionEvent, type Workflow } from '../../engine/index.js';
import { backgroundsOutside, VideoModel } from '../../models/video-model.js';
import { createRegistry } from '../../nodes/index.js';
import { HistoryEntrySchema, ServerMessageSchema, type HistoryEntry, type PromptResponse } from '../../protocol/index.js';
import { Client, getJson, postJson, quietLog, startServer } from '../server/helpers.js';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'skyloom-warn-'));
const PROMPT = 'a cat playing chess on a black background';

// An output node that consumes conditioning, so a graph can stop at text-encode.
const sink = defineNode({
  type: 'test/sink',
  version: 1,
  category: 'test',
  description: 'Takes anything and does nothing with it.',
  // Runs every time, so on a second run its input comes from the cache.
  flags: { output: true, idempotent: false },
  inputs: { value: { type: '*' } },
  run: () => undefined,
});

function encodeOnly(text: string): Workflow {
  return {
    format: 'skyloom-workflow',
    version: 3,
    nodes: [
      { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny', device: 'cpu' } },
      { id: 'positive', type: 'text-encode', params: { text }, inputs: { model: { node: 'model', output: 'model' } } },
      { id: 'sink', type: 'test/sink', inputs: { value: { node: 'positive', output: 'conditioning' } } },
    ],
  };
}

function registry() {
  const r = createRegistry();
  r.register(sink);
  return r;
}

describe('the model says which prompt words it does not know', () => {
  it('skyloom-tiny (word-level vocabulary) names its out-of-vocabulary words, as written, once each', async () => {
    const model = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
    expect(model.unknownWords('a cat playing chess')).toEqual(['cat', 'playing', 'chess']);
    expect(model.unknownWords('A Cat, a cat in a Parisian café')).toEqual(['Cat', 'in', 'Parisian', 'café']);
    expect(model.unknownWords('a red circle moving left on a black background')).toEqual([]);
    expect(model.unknownWords('')).toEqual([]);
  });

  it('text-encode warns through the executor, and again when its result comes from the cache', async () => {
    const executor = new Executor(registry(), { outputDir: work });
    for (let run = 0; run < 2; run++) {
      const events: ExecutionEvent[] = [];
      const result = await executor.run(encodeOnly(PROMPT), { onEvent: (e) => events.push(e) });
      if (run === 1) expect(result.cached).toContain('positive');
      const warnings = events.filter((e) => e.type === 'execution_warning').map((e) => e.data);
      expect(warnings).toEqual([{ promptId: result.promptId, nodeId: 'positive', nodeType: 'text-encode', message: 'the model does not know: cat, playing, chess' }]);
    }
    const events: ExecutionEvent[] = [];
    await executor.run(encodeOnly('a red circle moving left on a black background'), { onEvent: (e) => events.push(e) });
    expect(events.some((e) => e.type === 'execution_warning')).toBe(false);
  });
});

describe('the model says which backgrounds it cannot draw', () => {
  const known = ['black', 'gray', 'navy', 'dark green', 'sunset'];

  it('reads the words before "background" back to an article, preposition or conjunction', () => {
    expect(backgroundsOutside('a purple triangle moving down on a white background', known)).toEqual(['white']);
    expect(backgroundsOutside('a red circle on a Dark Green background', known)).toEqual([]);
    expect(backgroundsOutside('a red circle on a green background', known)).toEqual(['green']);
    expect(backgroundsOutside('against black background', known)).toEqual([]);
    // A known name after other words is known; those words are the unknown-word warning's.
    expect(backgroundsOutside('a red circle on a bright navy background', known)).toEqual([]);
    expect(backgroundsOutside('on a white background, then a red background and a white background', known)).toEqual(['white', 'red']);
    expect(backgroundsOutside('a red circle moving left', known)).toEqual([]);
    expect(backgroundsOutside('background', known)).toEqual([]);
  });

  it('skyloom-tiny names its five training backgrounds in skyloom.json; text-encode warns about another', async () => {
    const model = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
    expect(model.manifest.prompt?.backgrounds).toEqual(known);
    expect(model.unsupportedBackgrounds('a purple triangle moving down on a white background')).toEqual(['white']);
    const events: ExecutionEvent[] = [];
    await new Executor(registry(), { outputDir: work }).run(encodeOnly('a purple triangle moving down on a white background'), { onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'execution_warning').map((e) => e.data.message)).toEqual([
      'the model cannot draw a white background; its backgrounds are black, gray, navy, dark green and sunset',
    ]);
    // An unknown word and an unknown background: both said.
    const both: ExecutionEvent[] = [];
    await new Executor(registry(), { outputDir: work }).run(encodeOnly('a red circle on a grey background'), { onEvent: (e) => both.push(e) });
    expect(both.filter((e) => e.type === 'execution_warning').map((e) => e.data.message)).toEqual([
      'the model does not know: grey',
      'the model cannot draw a grey background; its backgrounds are black, gray, navy, dark green and sunset',
    ]);
  });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('the CLI', () => {
  it('prints the warning on stderr and exits 0', async () => {
    const out = mkdtempSync(join(work, 'cli-'));
    const r = await cli(['run', 'workflows/text-to-video.json', '--set', `prompt.text=${PROMPT}`, '--set', 'sampler.steps=1', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: node positive: the model does not know: cat, playing, chess\n');
    expect(r.stdout.trim()).toBe(join(out, 'skyloom_00001.mp4'));
  }, 120_000);

  it('with --json the warning is an event on stdout', async () => {
    const out = mkdtempSync(join(work, 'cli-'));
    const r = await cli(['run', 'workflows/text-to-video.json', '--json', '--set', `prompt.text=${PROMPT}`, '--set', 'sampler.steps=1', '--out', out]);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(events.filter((e) => e.type === 'execution_warning').map((e) => [e.data.nodeId, e.data.message])).toEqual([
      ['positive', 'the model does not know: cat, playing, chess'],
    ]);
  }, 120_000);
});

describe('the server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    server = await startServer({ registry: registry(), log: quietLog });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('sends an execution_warning message and keeps it in the history entry', async () => {
    const client = new Client(server.base, { clientId: 'warn' });
    await client.opened;
    const { body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: encodeOnly(PROMPT), clientId: 'warn' });
    await client.ended(body.promptId);
    const messages = client.of(body.promptId);
    expect(messages.map((m) => m.type)).toContain('execution_warning');
    const warning = messages.find((m) => m.type === 'execution_warning')!;
    expect(warning.data).toEqual({ promptId: body.promptId, nodeId: 'positive', nodeType: 'text-encode', message: 'the model does not know: cat, playing, chess' });
    // It arrives before the run ends, so the editor can show it on the node while the run goes on.
    expect(messages.findIndex((m) => m.type === 'execution_warning')).toBeLessThan(messages.findIndex((m) => m.type === 'execution_success'));

    const history = await getJson<HistoryEntry>(server.base, `/api/history/${body.promptId}`);
    expect(history.body.status).toBe('success');
    expect(history.body.warnings).toEqual([{ nodeId: 'positive', nodeType: 'text-encode', message: 'the model does not know: cat, playing, chess' }]);
    const ajv = new Ajv({ allErrors: true, strict: false });
    expect(ajv.validate(HistoryEntrySchema, history.body)).toBe(true);
    for (const m of messages) expect(ajv.validate(ServerMessageSchema, m), JSON.stringify(ajv.errors)).toBe(true);
    client.close();
  });
});
