// The upscale family through the executor: ESRGAN upscale, then resize to exact 16:9 and 9:16 sizes.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cancelled, Executor, NodeRegistry, WorkflowValidationError, defineNode, type ExecutionEvent, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { AUDIO_FRAME_BYTES, AudioTrack, samplesAt } from '../../media/audio.js';
import { videoFromChunks, type VideoHandle } from '../../media/frames.js';
import { resizeImage } from '../../media/image.js';
import { resizeTarget, upscaleNodes } from '../../nodes/upscale.js';

const W = 32;
const H = 18;

/** Two frames of a soft gradient with a hard-edged disc that moves: edges are where SR and Lanczos differ. */
function sourceFrames(): Uint8Array {
  const out = new Uint8Array(2 * W * H * 3);
  for (let f = 0; f < 2; f++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = ((f * H + y) * W + x) * 3;
        const inDisc = (x - 12 - 6 * f) ** 2 + (y - 9) ** 2 < 36;
        out[i] = inDisc ? 240 : 40 + 4 * x;
        out[i + 1] = inDisc ? 200 : 30 + 8 * y;
        out[i + 2] = inDisc ? 20 : 120;
      }
  return out;
}

const captured = new Map<string, { width: number; height: number; frameCount: number; data: Uint8Array; sound?: Buffer }>();

/** The source's sound: 2 frames at 8 fps of a sawtooth, so a carried track can be told from silence. */
function sourceSound(dir: string): AudioTrack {
  const samples = samplesAt(2, 8);
  const pcm = Buffer.alloc(samples * AUDIO_FRAME_BYTES);
  for (let i = 0; i < samples * 2; i++) pcm.writeInt16LE(((i * 37) % 2000) - 1000, i * 2);
  const file = join(dir, `sound-${Date.now()}.pcm`);
  writeFileSync(file, pcm);
  return AudioTrack.fromPcmFile(file, pcm.byteLength);
}

const sourceNode = defineNode({
  type: 'test/video-source',
  version: 1,
  category: 'test',
  description: 'Two 32x18 frames.',
  outputs: { video: { type: 'VIDEO' } },
  run: async (_inputs, ctx) => ({
    video: (await videoFromChunks([sourceFrames()], { width: W, height: H, fps: 8 }, { dir: ctx.tempDir })).withAudio(sourceSound(ctx.tempDir)),
  }),
});

const captureNode = defineNode({
  type: 'test/capture',
  version: 1,
  category: 'test',
  description: 'Keeps the frames of a video for assertions.',
  inputs: { video: { type: 'VIDEO' } },
  outputs: {},
  flags: { output: true },
  run: async ({ video }, ctx) => {
    const v = video as VideoHandle;
    const parts: Buffer[] = [];
    if (v.audio) for await (const chunk of v.audio.chunks()) parts.push(chunk);
    const sound = v.audio ? Buffer.concat(parts) : undefined;
    captured.set(ctx.nodeId, { width: v.width, height: v.height, frameCount: v.frameCount, data: await v.read(0, v.frameCount), ...(sound ? { sound } : {}) });
  },
});

const registry = new NodeRegistry([...upscaleNodes, sourceNode, captureNode]);
const link = (node: string) => ({ node, output: 'video' });
const previousCache = process.env.SKYLOOM_CACHE_DIR;

beforeAll(() => {
  process.env.SKYLOOM_CACHE_DIR = mkdtempSync(join(tmpdir(), 'skyloom-cache-'));
});
afterAll(() => {
  if (previousCache === undefined) delete process.env.SKYLOOM_CACHE_DIR;
  else process.env.SKYLOOM_CACHE_DIR = previousCache;
});

function workflow(...nodes: WorkflowNode[]): Workflow {
  return { format: 'skyloom-workflow', version: 3, nodes: [{ id: 'src', type: 'test/video-source' }, ...nodes] };
}

const up: WorkflowNode = { id: 'up', type: 'upscale', params: { model: 'esrgan-slim-4x', tile: 16, chunk: 1, device: 'cpu' }, inputs: { video: link('src') } };

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

function frame(video: { width: number; height: number; data: Uint8Array }, index: number): Uint8Array {
  const bytes = video.width * video.height * 3;
  return video.data.subarray(index * bytes, (index + 1) * bytes);
}

describe('upscale + resize', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'skyloom-upscale-run-'));
  const executor = () => new Executor(registry, { outputDir: runDir, tempDir: runDir });

  it('upscales 4x with the model, then resizes to exactly 1920x1080 (crop) and 1080x1920 (pad and crop)', async () => {
    captured.clear();
    const events: ExecutionEvent[] = [];
    const wf = workflow(
      up,
      { id: 'wide', type: 'resize', params: { preset: '1920x1080', fit: 'crop' }, inputs: { video: link('up') } },
      { id: 'tall', type: 'resize', params: { preset: '1080x1920', fit: 'pad' }, inputs: { video: link('up') } },
      { id: 'tallCrop', type: 'resize', params: { preset: 'custom', width: 1080, height: 1920, fit: 'crop' }, inputs: { video: link('up') } },
      { id: 'capUp', type: 'test/capture', inputs: { video: link('up') } },
      { id: 'capWide', type: 'test/capture', inputs: { video: link('wide') } },
      { id: 'capTall', type: 'test/capture', inputs: { video: link('tall') } },
      { id: 'capTallCrop', type: 'test/capture', inputs: { video: link('tallCrop') } },
    );
    await executor().run(wf, { onEvent: (e) => events.push(e) });

    const upscaled = captured.get('capUp')!;
    expect(upscaled).toMatchObject({ width: 128, height: 72, frameCount: 2 });
    for (const [id, w, h] of [
      ['capWide', 1920, 1080],
      ['capTall', 1080, 1920],
      ['capTallCrop', 1080, 1920],
    ] as const) {
      const v = captured.get(id)!;
      expect({ id, width: v.width, height: v.height, frameCount: v.frameCount }).toEqual({ id, width: w, height: h, frameCount: 2 });
      expect(v.data.length).toBe(2 * w * h * 3);
    }

    // Pad: a 16:9 picture in a 9:16 frame has black bars above and below and the picture in the middle.
    const tall = captured.get('capTall')!;
    const row = (y: number) => frame(tall, 0).subarray(y * 1080 * 3, (y + 1) * 1080 * 3);
    expect(row(0).every((v) => v === 0)).toBe(true);
    expect(row(1919).every((v) => v === 0)).toBe(true);
    expect(row(960).some((v) => v > 30)).toBe(true);

    // The sound stays under the frames through upscale and resize.
    const sound = captured.get('capUp')!.sound!;
    expect(sound.byteLength).toBe(samplesAt(2, 8) * AUDIO_FRAME_BYTES);
    expect(sound.readInt16LE(2)).toBe(37 - 1000);
    for (const id of ['capWide', 'capTall', 'capTallCrop']) expect(captured.get(id)!.sound!.equals(sound), id).toBe(true);

    // One progress step per chunk of one frame.
    const steps = events.flatMap((e) => (e.type === 'progress' && e.data.nodeId === 'up' ? [`${e.data.step}/${e.data.total}`] : []));
    expect(steps).toEqual(['1/2', '2/2']);
  });

  it('is not just resampling: the 4x frame differs from Lanczos 4x of the same input, yet shows the same picture', async () => {
    const upscaled = captured.get('capUp')!;
    const source = sourceFrames();
    for (let f = 0; f < 2; f++) {
      const lanczos = await resizeImage({ width: W, height: H, data: source.subarray(f * W * H * 3, (f + 1) * W * H * 3) }, 128, 72);
      const diff = meanAbsDiff(frame(upscaled, f), lanczos.data);
      expect(diff).toBeGreaterThan(1); // a resampler would be within rounding of Lanczos
      expect(diff).toBeLessThan(25); // and the model did not draw something else
    }
    const wide = captured.get('capWide')!;
    const direct = await resizeImage({ width: W, height: H, data: source.subarray(0, W * H * 3) }, 1920, 1080, 'crop');
    expect(meanAbsDiff(frame(wide, 0), direct.data)).toBeGreaterThan(1);
  });

  it('stops when the run is interrupted during upscaling', async () => {
    const controller = new AbortController();
    const wf = workflow(up, { id: 'cap', type: 'test/capture', inputs: { video: link('up') } });
    captured.clear();
    const run = executor().run(wf, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.data.nodeId === 'up') controller.abort();
      },
    });
    await expect(run).rejects.toThrow(Cancelled);
    expect(captured.has('cap')).toBe(false);
  });

  it('rejects a model that is not offered, naming the choices', async () => {
    const wf = workflow({ ...up, params: { ...up.params, model: 'esrgan-huge-4x' } }, { id: 'cap', type: 'test/capture', inputs: { video: link('up') } });
    const error = await executor()
      .run(wf)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowValidationError);
    expect((error as Error).message).toMatch(/esrgan-slim-4x/);
  });

  it('resize presets map to their sizes; custom uses width and height', () => {
    expect(resizeTarget('1920x1080', 1, 1)).toEqual({ width: 1920, height: 1080 });
    expect(resizeTarget('1080x1920', 1, 1)).toEqual({ width: 1080, height: 1920 });
    expect(resizeTarget('custom', 640, 360)).toEqual({ width: 640, height: 360 });
    expect(() => resizeTarget('999x999', 1, 1)).toThrow(/Should be one of: custom, 1920x1080/);
  });
});
