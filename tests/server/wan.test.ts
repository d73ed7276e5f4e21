// The Wan2.1 workflow through the server on the tiny Wan-shaped fixtures: queue, previews from the
// 16-channel latent, an mp4 of 1 + 4·(T − 1) frames at 16 fps, and a load error that names the file.

import { readFileSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../media/ffmpeg.js';
import { createRegistry } from '../../nodes/index.js';
import type { HistoryEntry, PromptResponse } from '../../protocol/index.js';
import type { Workflow } from '../../engine/index.js';
import { Client, getJson, postJson, startServer } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
const BUNDLE = join(root, 'tests', 'fixtures', 'wan', 'bundle');

function wanWorkflow(model: string): Workflow {
  const wf = JSON.parse(readFileSync(join(root, 'workflows', 'wan', 'text-to-video-480p.json'), 'utf8')) as Workflow;
  const set: Record<string, Record<string, string | number>> = {
    model: { name: model, device: 'cpu' },
    latent: { aspect: 'custom', width: 48, height: 32, frames: 13 },
    sampler: { steps: 2, seed: 5 },
  };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(set[node.id] ?? {}) };
  return wf;
}

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  // The fixture bundles are folders of the test's own, named by path: the server must be told to take paths.
  server = await startServer({ previewIntervalMs: 0, registry: createRegistry(), allowModelPaths: true });
});
afterAll(async () => {
  await server?.stop();
});

describe('the Wan workflow through the server', () => {
  it('queues, sends latent previews, and writes an H.264 mp4 of 13 frames at 48×32, 16 fps', async () => {
    const client = new Client(server.base, { clientId: 'wan', preview: 'jpeg' });
    await client.opened;
    const { status, body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: wanWorkflow(BUNDLE), clientId: 'wan' });
    expect(status).toBe(200);
    // Waiting on the WebSocket, not by polling: onnxruntime's run() holds the event loop (issue 15,
    // item 4), and a polled keep-alive socket can be reset meanwhile.
    await client.ended(body.promptId);
    const entry = (await getJson<HistoryEntry>(server.base, `/api/history/${body.promptId}`)).body;
    expect(entry.status).toBe('success');
    const file = entry.outputs['save']!.files![0]!;
    const info = await probe(join(server.dataDir, 'output', file.filename));
    expect(info).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 48, height: 32, frameCount: 13, fps: 16 });
    // The streaming decoder reports each latent frame's video frames: 1, then 4 at a time.
    const decode = client
      .of(body.promptId)
      .filter((m) => m.type === 'progress' && (m.data as { nodeId: string }).nodeId === 'decode')
      .map((m) => [(m.data as { step: number }).step, (m.data as { total: number }).total]);
    expect(decode).toEqual([
      [1, 13],
      [5, 13],
      [9, 13],
      [13, 13],
    ]);
    await client.waitFor((g) => g.previews.some((p) => p.metadata.nodeId === 'sampler'), 'a sampler preview');
    const preview = client.got.previews.find((p) => p.metadata.nodeId === 'sampler')!;
    // Previews are at latent resolution: 4 latent frames of 6×4.
    expect(preview.metadata).toMatchObject({ frameCount: 4, width: 6, height: 4 });
    client.ws.close();
  }, 150_000);

  it('a Wan folder with a GPU-only graph fails at load-model, naming the file, before sampling', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'skyloom-wan-srv-')), 'wan');
    await cp(BUNDLE, dir, { recursive: true });
    await cp(join(root, 'tests', 'fixtures', 'wan', 'gpu-only', 'vae_decoder.onnx'), join(dir, 'vae_decoder.onnx'));
    await writeFile(join(dir, 'README.txt'), 'a broken copy');
    const client = new Client(server.base, { clientId: 'wan-bad' });
    await client.opened;
    const { body } = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: wanWorkflow(dir), clientId: 'wan-bad' });
    await client.ended(body.promptId);
    client.ws.close();
    const entry = (await getJson<HistoryEntry>(server.base, `/api/history/${body.promptId}`)).body;
    expect(entry.status).toBe('error');
    expect(JSON.stringify(entry.error)).toContain(`${join(dir, 'vae_decoder.onnx')} uses operator GroupNorm (com.microsoft)`);
    expect(entry.executed).not.toContain('sampler');
  }, 90_000);
});
