// The time family on a tiny random-weight model: frame counts, what is kept, and the edits.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { decodeVideo, encodeVideo, probe } from '../../media/ffmpeg.js';
import { saveImage } from '../../media/image.js';
import { createRegistry } from '../../nodes/index.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

const modelsDir = mkdtempSync(join(tmpdir(), 'skyloom-models-'));
const work = mkdtempSync(join(tmpdir(), 'skyloom-time-'));
const previous = process.env.SKYLOOM_MODELS;
const W = 16;
const H = 16;

/** A white 4×4 square sliding right over gray, `n` frames of 16×16 at 8 fps. */
function slidingSquare(n: number, shade = 255): Uint8Array {
  const data = new Uint8Array(n * W * H * 3).fill(110);
  for (let f = 0; f < n; f++) {
    const x0 = f % (W - 4);
    for (let y = 6; y < 10; y++) for (let x = x0; x < x0 + 4; x++) data.fill(shade, ((f * H + y) * W + x) * 3, ((f * H + y) * W + x) * 3 + 3);
  }
  return data;
}

beforeAll(async () => {
  await writeSkyloomPackage(join(modelsDir, 'tiny'), { name: 'tiny' });
  process.env.SKYLOOM_MODELS = modelsDir;
  await encodeVideo({ width: W, height: H, fps: 8, frames: [slidingSquare(16)] }, join(work, 'a.mp4'), { format: 'mp4', crf: 0 });
  await encodeVideo({ width: W, height: H, fps: 8, frames: [slidingSquare(16, 200)] }, join(work, 'b.mp4'), { format: 'mp4', crf: 0 });
  await saveImage({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(180) }, join(work, 'still.png'), { format: 'png' });
});
afterAll(() => {
  if (previous === undefined) delete process.env.SKYLOOM_MODELS;
  else process.env.SKYLOOM_MODELS = previous;
});

const base: WorkflowNode[] = [
  { id: 'model', type: 'load-model', params: { name: 'tiny' } },
  { id: 'prompt', type: 'text-encode', params: { text: 'a red circle' }, inputs: { model: { node: 'model', output: 'model' } } },
  { id: 'a', type: 'load-video', params: { path: 'a.mp4' } },
  { id: 'b', type: 'load-video', params: { path: 'b.mp4' } },
];
const gen = { model: { node: 'model', output: 'model' }, positive: { node: 'prompt', output: 'conditioning' } };

async function run(nodes: WorkflowNode[]): Promise<{ frames: number; fps: number; data: Uint8Array }> {
  const out = mkdtempSync(join(work, 'out-'));
  const wf: Workflow = {
    format: 'skyloom-workflow',
    version: 3,
    nodes: [...base, ...nodes, { id: 'save', type: 'save-video', params: { crf: 0 }, inputs: { video: { node: 'result', output: 'video' } } }],
  };
  const result = await new Executor(createRegistry(), { outputDir: out, inputDir: work }).run(wf);
  const file = result.outputs.save.files![0].path;
  const info = await probe(file);
  const video = await decodeVideo(file);
  return { frames: info.frameCount, fps: info.fps, data: await video.read(0, video.frameCount) };
}

const frameBytes = W * H * 3;
function meanAbs(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}
const original = async (name: string) => {
  const v = await decodeVideo(join(work, name));
  return v.read(0, v.frameCount);
};

describe('time nodes', () => {
  it('extend forward keeps the original frames and adds the requested seconds', async () => {
    const r = await run([{ id: 'result', type: 'extend', params: { seconds: 3, context: 4, steps: 2 }, inputs: { ...gen, video: { node: 'a', output: 'video' } } }]);
    expect(r.frames).toBe(16 + 24);
    expect(r.fps).toBe(8);
    expect(meanAbs(r.data.subarray(0, 16 * frameBytes), await original('a.mp4'))).toBeLessThan(2);
  });

  it('extend backward puts the new frames before the original ones', async () => {
    const r = await run([
      { id: 'result', type: 'extend', params: { direction: 'backward', seconds: 1, context: 4, steps: 2 }, inputs: { ...gen, video: { node: 'a', output: 'video' } } },
    ]);
    expect(r.frames).toBe(8 + 16);
    expect(meanAbs(r.data.subarray(8 * frameBytes), await original('a.mp4'))).toBeLessThan(2);
  });

  it('connect joins first + transition + second; loop appends a transition back to the start', async () => {
    const c = await run([
      {
        id: 'result',
        type: 'connect',
        params: { context: 4, frames: 8, steps: 2 },
        inputs: { ...gen, first: { node: 'a', output: 'video' }, second: { node: 'b', output: 'video' } },
      },
    ]);
    expect(c.frames).toBe(16 + 8 + 16);
    expect(meanAbs(c.data.subarray(0, 16 * frameBytes), await original('a.mp4'))).toBeLessThan(2);
    expect(meanAbs(c.data.subarray(24 * frameBytes), await original('b.mp4'))).toBeLessThan(2);
    const l = await run([{ id: 'result', type: 'loop', params: { context: 4, frames: 12, steps: 2 }, inputs: { ...gen, video: { node: 'a', output: 'video' } } }]);
    expect(l.frames).toBe(16 + 12);
  });

  it('image-to-video makes a clip of the model size and length', async () => {
    const r = await run([
      { id: 'still', type: 'load-image', params: { path: 'still.png' } },
      { id: 'result', type: 'image-to-video', params: { seconds: 3, fps: 8, steps: 2 }, inputs: { ...gen, image: { node: 'still', output: 'image' } } },
    ]);
    expect(r.frames).toBe(24);
    expect(r.data.length).toBe(24 * frameBytes);
  });

  it('trim, concat and fps edit without a model', async () => {
    const t = await run([{ id: 'result', type: 'trim', params: { start: 0.5, duration: 1 }, inputs: { video: { node: 'a', output: 'video' } } }]);
    expect(t.frames).toBe(8);
    expect(meanAbs(t.data, (await original('a.mp4')).subarray(4 * frameBytes, 12 * frameBytes))).toBeLessThan(2);
    const c = await run([{ id: 'result', type: 'concat', inputs: { first: { node: 'a', output: 'video' }, second: { node: 'b', output: 'video' } } }]);
    expect(c.frames).toBe(32);
    const f = await run([{ id: 'result', type: 'fps', params: { fps: 24 }, inputs: { video: { node: 'a', output: 'video' } } }]);
    expect([f.frames, f.fps]).toEqual([48, 24]);
    // Each source frame is shown three times at the new rate.
    expect(meanAbs(f.data.subarray(3 * frameBytes, 4 * frameBytes), f.data.subarray(5 * frameBytes, 6 * frameBytes))).toBeLessThan(2);
  });

  it('errors name what is wrong: a missing file, a size off the model, mismatched clips', async () => {
    await expect(
      run([
        { id: 'result', type: 'trim', inputs: { video: { node: 'missing', output: 'video' } } },
        { id: 'missing', type: 'load-video', params: { path: 'nope.mp4' } },
      ]),
    ).rejects.toThrow(`Node "missing" (load-video) failed: File not found: ${join(work, 'nope.mp4')}`);
    await expect(
      run([
        { id: 'big', type: 'load-video', params: { path: 'a.mp4', width: 48, height: 32 } },
        { id: 'result', type: 'extend', params: { steps: 1 }, inputs: { ...gen, video: { node: 'big', output: 'video' } } },
      ]),
    ).rejects.toThrow('the video is 48×32; the model generates at 16×16, 32×16, 16×32 — resize it first');
    await expect(
      run([
        { id: 'wide', type: 'load-video', params: { path: 'a.mp4', width: 32, height: 16 } },
        { id: 'result', type: 'concat', inputs: { first: { node: 'a', output: 'video' }, second: { node: 'wide', output: 'video' } } },
      ]),
    ).rejects.toThrow('the videos differ in size: 16×16 and 32×16');
  });

  it('a confined input folder refuses paths that leave it, relative or absolute', async () => {
    const uploads = mkdtempSync(join(work, 'uploads-'));
    const attempt = (path: string) =>
      new Executor(createRegistry(), { inputDir: uploads, confineInputs: true, outputDir: work }).run({
        format: 'skyloom-workflow',
        version: 1,
        nodes: [
          { id: 'v', type: 'load-video', params: { path } },
          { id: 's', type: 'save-video', inputs: { video: { node: 'v', output: 'video' } } },
        ],
      });
    await expect(attempt('../a.mp4')).rejects.toThrow('"../a.mp4" is outside the input folder; only uploaded files can be read');
    await expect(attempt(join(work, 'a.mp4'))).rejects.toThrow('is outside the input folder');
    await expect(attempt('/etc/passwd')).rejects.toThrow('is outside the input folder');
  });
});
