// Every output file carries its workflow: real save-video (mp4, webm) and save-image (PNG) outputs extract back identical.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineNode, type Workflow } from '../../engine/index.js';
import type { ErrorBody, ExtractResponse, HistoryEntry, PromptResponse, UploadResponse } from '../../protocol/index.js';
import { videoFromChunks } from '../../media/frames.js';
import { saveImageNode, saveVideoNode } from '../../nodes/video-io.js';
import { postJson, raw, settled, startServer, testRegistry, workflow } from './helpers.js';

/** A test-only source of a real VIDEO value: 4 frames of 16×16, a different grey each. */
const makeVideoNode = defineNode({
  type: 'test/make-video',
  version: 1,
  category: 'test',
  description: 'A tiny synthetic video.',
  outputs: { video: { type: 'VIDEO' } },
  run: async (_inputs, ctx) => {
    const frames = [0, 1, 2, 3].map((i) => new Uint8Array(16 * 16 * 3).fill(40 + i * 50));
    return { video: await videoFromChunks(frames, { width: 16, height: 16, fps: 8 }, { dir: ctx.tempDir }) };
  },
});

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer({ registry: testRegistry([makeVideoNode, saveVideoNode, saveImageNode]) });
});
afterAll(async () => {
  await server?.stop();
});

const wf: Workflow = {
  ...workflow(
    { id: 'video', type: 'test/make-video', position: [0, 0] },
    { id: 'mp4', type: 'save-video', params: { filename_prefix: 'rt-mp4', format: 'mp4', crf: 30 }, inputs: { video: { node: 'video', output: 'video' } } },
    { id: 'webm', type: 'save-video', params: { filename_prefix: 'rt-webm', format: 'webm', crf: 40 }, inputs: { video: { node: 'video', output: 'video' } } },
    { id: 'png', type: 'save-image', params: { filename_prefix: 'rt-png', format: 'png', frame: -1 }, inputs: { video: { node: 'video', output: 'video' } } },
  ),
  title: 'Round trip — ünïcödé survives',
};

describe('embedded workflow round trip', () => {
  let outputs: HistoryEntry['outputs'];

  beforeAll(async () => {
    const r = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: wf });
    expect(r.status).toBe(200);
    const entry = await settled<HistoryEntry>(server.base, r.body.promptId, 120_000);
    expect(entry.error).toBeNull();
    expect(entry.status).toBe('success');
    outputs = entry.outputs;
  });

  for (const [node, filename, mime] of [
    ['mp4', 'rt-mp4_00001.mp4', 'video/mp4'],
    ['webm', 'rt-webm_00001.webm', 'video/webm'],
    ['png', 'rt-png_00001.png', 'image/png'],
  ] as const) {
    it(`${node}: the output's embedded workflow extracts back identical, with provenance`, async () => {
      const file = outputs[node].files![0];
      expect(file).toMatchObject({ filename, mime, url: `/api/outputs/${filename}` });
      const r = await postJson<ExtractResponse>(server.base, '/api/workflows/extract', { output: filename });
      expect(r.status).toBe(200);
      expect(r.body.workflow).toEqual(wf);
      expect(r.body.provenance).toMatchObject({
        ai_generated: true,
        generator: 'Skyloom',
        workflow_sha256: createHash('sha256').update(JSON.stringify(wf)).digest('hex'),
      });
    });
  }

  it('an uploaded copy of the mp4 extracts the same workflow; the download matches the file byte for byte', async () => {
    const bytes = readFileSync(join(server.dataDir, 'output', 'rt-mp4_00001.mp4'));
    const download = await raw(server.base, 'GET', '/api/outputs/rt-mp4_00001.mp4');
    expect(download.headers['content-type']).toBe('video/mp4');
    expect(download.body.equals(bytes)).toBe(true);
    const seek = await raw(server.base, 'GET', '/api/outputs/rt-mp4_00001.mp4', { headers: { range: 'bytes=100-199' } });
    expect(seek.status).toBe(206);
    expect(seek.body.equals(bytes.subarray(100, 200))).toBe(true);

    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const up = await raw(server.base, 'POST', '/api/uploads', { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    expect(up.status).toBe(201);
    const uploaded = up.json<UploadResponse>();
    expect(uploaded).toMatchObject({ mime: 'video/mp4', kind: 'video', size: bytes.length });
    const r = await postJson<ExtractResponse>(server.base, '/api/workflows/extract', { upload: uploaded.name });
    expect(r.body.workflow).toEqual(wf);
  });

  it('a file without an embedded workflow is a clear error', async () => {
    const r = await postJson<ErrorBody>(server.base, '/api/workflows/extract', { output: 'missing.mp4' });
    expect(r.status).toBe(404);
    const both = await postJson<ErrorBody>(server.base, '/api/workflows/extract', { output: 'a', upload: 'b' });
    expect(both.status).toBe(400);
  });
});
