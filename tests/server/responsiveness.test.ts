// Model calls off the event loop: while a slow denoiser call runs, a real server answers GET /api/queue and an interrupt lands within that call.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParamValue, Workflow } from '../../engine/index.js';
import { probe } from '../../media/ffmpeg.js';
import { createRegistry } from '../../nodes/index.js';
import { createSession, releaseSession, runSession, type OnnxSession } from '../../models/runtime/onnx.js';
import { float32 } from '../../models/tensor.js';
import type { HistoryEntry, PromptResponse, QueueResponse, ServerMessage } from '../../protocol/index.js';
import { buildModel } from '../models/fixtures/onnx-builder.js';
import { slowTransformer } from '../models/fixtures/slow-transformer.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';
import { Client, getJson, postJson, settled, startServer } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');

let server: Awaited<ReturnType<typeof startServer>>;
let pkg: string;
// A one-op session of the test's own on the same worker thread: calls there are served in order,
// so a call made after the interrupt returns only once the server's running call has finished.
let marker: OnnxSession;

beforeAll(async () => {
  pkg = mkdtempSync(join(tmpdir(), 'skyloom-slow-model-'));
  await writeSkyloomPackage(pkg, { name: 'slow-tiny', transformer: slowTransformer() });
  const negPath = join(pkg, 'neg.onnx');
  writeFileSync(
    negPath,
    buildModel({
      inputs: [{ name: 'x', type: 'float32', shape: [2] }],
      outputs: [{ name: 'y', type: 'float32', shape: [2] }],
      nodes: [{ op: 'Neg', inputs: ['x'], outputs: ['y'] }],
    }),
  );
  marker = await createSession(negPath, { device: 'cpu' });
  // The package is a folder of the test's own, named by path: the server must be told to take paths.
  server = await startServer({ registry: createRegistry(), allowModelPaths: true });
});

afterAll(async () => {
  await server?.stop();
  if (marker) await releaseSession(marker);
});

/** The shipped text-to-video workflow on the slow package: one denoiser call per step, each about a second. */
function slowWorkflow(steps: number, seed: number): Workflow {
  const wf = JSON.parse(readFileSync(join(root, 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;
  const sets: Record<string, Record<string, ParamValue>> = {
    // One ORT thread leaves the other core to the server's event loop on a two-core machine.
    model: { name: pkg, device: 'cpu', threads: 1 },
    latent: { seconds: 1 },
    sampler: { steps, seed },
  };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  return wf;
}

/** The last sampler step the client has heard of for a prompt (0 before the first). */
function samplerStep(messages: ServerMessage[]): number {
  let step = 0;
  for (const m of messages) if (m.type === 'progress' && m.data.nodeId === 'sampler') step = Math.max(step, m.data.step);
  return step;
}

describe('a slow denoiser call does not stall the server', () => {
  it('answers GET /api/queue during the call, interrupts within it, then runs the next prompt', async () => {
    const client = new Client(server.base, { clientId: 'resp', preview: 'none' });
    await client.opened;
    const slow = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: slowWorkflow(40, 1), clientId: 'resp' })).body;
    const next = (await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: slowWorkflow(2, 2), clientId: 'resp' })).body;

    // Step 1 done means call 2 has started: the sampler issues the next call right after a step.
    await client.waitFor((g) => samplerStep(g.messages.filter((m) => m.type === 'progress' && m.data.promptId === slow.promptId)) >= 1, 'the first sampler step', 60_000);
    const during = samplerStep(client.of(slow.promptId));
    const queue = await getJson<QueueResponse>(server.base, '/api/queue');
    // Answered before the running call finished: no later step was reported meanwhile. On the
    // event loop the request would wait for the call, whose step message goes out first.
    expect(samplerStep(client.of(slow.promptId))).toBe(during);
    expect(queue.status).toBe(200);
    expect(queue.body.running.map((p) => p.promptId)).toEqual([slow.promptId]);
    expect(queue.body.pending.map((p) => p.promptId)).toEqual([next.promptId]);

    const interrupt = await postJson<{ interrupted: boolean; promptId: string }>(server.base, '/api/interrupt', { promptId: slow.promptId });
    const atInterrupt = samplerStep(client.of(slow.promptId));
    expect(interrupt.body).toEqual({ interrupted: true, promptId: slow.promptId });
    let runningCallDone = false;
    const afterRunningCall = runSession(marker, { x: float32([2], [1, -2]) }).then((out) => {
      runningCallDone = true;
      return out;
    });
    await client.ended(slow.promptId);
    // The prompt ended within the call that was running when the interrupt came: that call (ahead
    // of the marker in the worker) had not finished, and it never became a step.
    expect(runningCallDone).toBe(false);
    expect(samplerStep(client.of(slow.promptId))).toBe(atInterrupt);
    expect(atInterrupt).toBeLessThan(40);
    expect((await afterRunningCall)['y']).toEqual({ type: 'float32', dims: [2], data: Float32Array.of(-1, 2) });
    expect(client.of(slow.promptId).at(-1)).toMatchObject({ type: 'execution_interrupted', data: { promptId: slow.promptId, nodeId: 'sampler' } });
    const entry = await settled<HistoryEntry>(server.base, slow.promptId);
    expect(entry.status).toBe('interrupted');
    expect(entry.error).toMatchObject({ code: 'interrupted', message: 'Interrupted by a client', nodeId: 'sampler' });

    // The next prompt waits for the abandoned call in the worker, then runs on the same sessions.
    const done = await settled<HistoryEntry>(server.base, next.promptId, 60_000);
    expect(done.status).toBe('success');
    expect(samplerStep(client.of(next.promptId))).toBe(2);
    const file = done.outputs?.['save']?.files?.[0];
    expect(file?.filename).toMatch(/\.mp4$/);
    const info = await probe(join(server.dataDir, 'output', file!.filename));
    expect({ frames: info.frameCount, width: info.width, height: info.height }).toEqual({ frames: 8, width: 16, height: 16 });
    client.close();
  });
});
