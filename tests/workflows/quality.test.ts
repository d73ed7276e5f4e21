// What the video operations promise, on frames from the default model: kept frames come back
// unchanged and a still becomes the first frame. (How smooth the joins are depends on the model's
// training; models/training/EVAL.md measures the extension seam.)

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { decodeVideo } from '../../nodes/media/ffmpeg.js';
import { loadImage } from '../../nodes/media/image.js';
import { createRegistry } from '../../nodes/index.js';

const root = resolve(import.meta.dirname, '../..');
const W = 64;
const H = 64;
const frameBytes = W * H * 3;

const base: WorkflowNode[] = [
  { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny' } },
  { id: 'prompt', type: 'text-encode', params: { text: 'a red circle moving left on a black background' }, inputs: { model: { node: 'model', output: 'model' } } },
  { id: 'clip', type: 'load-video', params: { path: 'workflows/assets/clip.mp4' } },
];
const gen = { model: { node: 'model', output: 'model' }, positive: { node: 'prompt', output: 'conditioning' } };

async function frames(nodes: WorkflowNode[]): Promise<Uint8Array> {
  const out = mkdtempSync(join(tmpdir(), 'skyloom-quality-'));
  const wf: Workflow = { format: 'skyloom-workflow', version: 1, nodes: [...base, ...nodes, { id: 'save', type: 'save-video', params: { crf: 10 }, inputs: { video: { node: 'result', output: 'video' } } }] };
  const result = await new Executor(createRegistry(), { outputDir: out, inputDir: root }).run(wf);
  const video = await decodeVideo(result.outputs.save.files![0].path);
  return video.read(0, video.frameCount);
}

const frame = (data: Uint8Array, i: number) => data.subarray(i * frameBytes, (i + 1) * frameBytes);
function diff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

describe('video operations on the default model', () => {
  it('extend forward returns the original frames unchanged (within codec tolerance)', async () => {
    const original = await frames([{ id: 'result', type: 'trim', inputs: { video: { node: 'clip', output: 'video' } } }]);
    const extended = await frames([{ id: 'result', type: 'extend', params: { seconds: 2, context: 8, steps: 10, guidance: 6 }, inputs: { ...gen, video: { node: 'clip', output: 'video' } } }]);
    expect(extended.length).toBe(32 * frameBytes);
    expect(diff(extended.subarray(0, 16 * frameBytes), original)).toBeLessThan(1.5);
  });

  it('image-to-video starts from the image', async () => {
    const video = await frames([
      { id: 'still', type: 'load-image', params: { path: 'workflows/assets/still.png' } },
      { id: 'result', type: 'image-to-video', params: { seconds: 2, steps: 10, guidance: 6 }, inputs: { ...gen, image: { node: 'still', output: 'image' } } },
    ]);
    const image = await loadImage(join(root, 'workflows/assets/still.png'));
    // The still is the first frame (within codec tolerance), and the clip goes on from it.
    expect(diff(frame(video, 0), image.data)).toBeLessThan(2);
    expect(video.length).toBe(16 * frameBytes);
  });

  it('connect keeps both clips whole around the transition', async () => {
    const a = await frames([{ id: 'result', type: 'trim', inputs: { video: { node: 'clip', output: 'video' } } }]);
    const joined = await frames([
      { id: 'other', type: 'load-video', params: { path: 'workflows/assets/clip-b.mp4' } },
      { id: 'result', type: 'connect', params: { context: 4, frames: 8, steps: 10, guidance: 6 }, inputs: { ...gen, first: { node: 'clip', output: 'video' }, second: { node: 'other', output: 'video' } } },
    ]);
    const b = await frames([{ id: 'result', type: 'trim', inputs: { video: { node: 'other', output: 'video' } } }, { id: 'other', type: 'load-video', params: { path: 'workflows/assets/clip-b.mp4' } }]);
    expect(joined.length).toBe(40 * frameBytes);
    expect(diff(joined.subarray(0, 16 * frameBytes), a)).toBeLessThan(1.5);
    expect(diff(joined.subarray(24 * frameBytes), b)).toBeLessThan(1.5);
  });
});
