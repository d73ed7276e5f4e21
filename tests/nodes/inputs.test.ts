// Inputs as given: 1-frame clips and stills load as 1-frame videos; transparency meets the background the user picks.

import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it, beforeAll } from 'vitest';
import { defineNode, Executor, type NodeOutputs, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { decodeVideo, ffmpegPath } from '../../media/ffmpeg.js';
import type { VideoHandle } from '../../media/frames.js';
import type { RgbImage } from '../../media/image.js';
import { createRegistry } from '../../nodes/index.js';

const work = mkdtempSync(join(tmpdir(), 'skyloom-inputs-'));

beforeAll(async () => {
  execFileSync(ffmpegPath(), [
    '-y',
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'color=c=0x3366cc:size=16x16:rate=25',
    '-frames:v',
    '1',
    '-pix_fmt',
    'yuv420p',
    '-crf',
    '0',
    join(work, 'one.mp4'),
  ]);
  // 16×16 RGBA: the left half fully transparent red, the right half opaque green.
  const rgba = Buffer.alloc(16 * 16 * 4);
  for (let p = 0; p < 256; p++) rgba.set(p % 16 < 8 ? [255, 0, 0, 0] : [0, 255, 0, 255], p * 4);
  await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } })
    .png()
    .toFile(join(work, 'alpha.png'));
  await sharp(Buffer.alloc(16 * 16 * 3, 200), { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toFile(join(work, 'still.png'));
});

// An output node that hands the test what reached it.
let seen: unknown;
const capture = defineNode({
  type: 'test/capture',
  version: 1,
  category: 'test',
  description: 'Keeps its input for the test.',
  flags: { output: true, idempotent: false },
  inputs: { value: { type: '*' } },
  run: ({ value }) => {
    seen = value;
  },
});

async function outputsOf(node: WorkflowNode): Promise<NodeOutputs> {
  const registry = createRegistry();
  registry.register(capture);
  const out = Object.keys(registry.get(node.type)!.outputs!)[0]!;
  const wf: Workflow = { format: 'skyloom-workflow', version: 3, nodes: [node, { id: 'capture', type: 'test/capture', inputs: { value: { node: node.id, output: out } } }] };
  seen = undefined;
  await new Executor(registry, { outputDir: work, inputDir: work }).run(wf);
  const frames = seen && typeof seen === 'object' && 'frameCount' in seen ? (seen as VideoHandle).frameCount : undefined;
  return { [out]: seen, frames };
}

function pixel(data: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

describe('inputs as given', () => {
  it('a 1-frame mp4 resampled to 8 fps is a 1-frame video of that frame', async () => {
    for (const fps of [0, 8, 24]) {
      const out = await outputsOf({ id: 'v', type: 'load-video', params: { path: 'one.mp4', fps } });
      const video = out.video as VideoHandle;
      expect(video.frameCount, `fps ${fps}`).toBe(1);
      expect(out.frames).toBe(1);
      const [r, g, b] = pixel(await video.read(0, 1), 16, 8, 8);
      expect(Math.abs(r! - 0x33) + Math.abs(g! - 0x66) + Math.abs(b! - 0xcc)).toBeLessThan(12);
    }
  });

  it('a still loads as a 1-frame video', async () => {
    const video = (await outputsOf({ id: 'v', type: 'load-video', params: { path: 'still.png', fps: 8 } })).video as VideoHandle;
    expect([video.frameCount, video.fps]).toEqual([1, 8]);
    expect(pixel(await video.read(0, 1), 16, 3, 3)).toEqual([200, 200, 200]);
  });

  it('longer clips keep their frame count when resampled', async () => {
    execFileSync(ffmpegPath(), ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=16x16:rate=25:duration=2', '-pix_fmt', 'yuv420p', join(work, 'two.mp4')]);
    expect((await decodeVideo(join(work, 'two.mp4'), { fps: 8 })).frameCount).toBe(16);
  });

  it('load-image composites transparency onto the background param (default black)', async () => {
    const dflt = (await outputsOf({ id: 'i', type: 'load-image', params: { path: 'alpha.png' } })).image as RgbImage;
    expect(pixel(dflt.data, 16, 2, 5)).toEqual([0, 0, 0]);
    expect(pixel(dflt.data, 16, 12, 5)).toEqual([0, 255, 0]);
    const white = (await outputsOf({ id: 'i', type: 'load-image', params: { path: 'alpha.png', background: '#ffffff' } })).image as RgbImage;
    expect(pixel(white.data, 16, 2, 5)).toEqual([255, 255, 255]);
    expect(pixel(white.data, 16, 12, 5)).toEqual([0, 255, 0]);
  });

  it('load-video composites an RGBA PNG the same way', async () => {
    const video = (await outputsOf({ id: 'v', type: 'load-video', params: { path: 'alpha.png', background: '#102030' } })).video as VideoHandle;
    expect(video.frameCount).toBe(1);
    const frame = await video.read(0, 1);
    expect(pixel(frame, 16, 2, 5)).toEqual([16, 32, 48]);
    expect(pixel(frame, 16, 12, 5)).toEqual([0, 255, 0]);
  });

  it('a background that is not a colour is refused at validation, naming the param', async () => {
    await expect(outputsOf({ id: 'i', type: 'load-image', params: { path: 'alpha.png', background: 'blurple' } })).rejects.toThrow(
      /background.*"blurple" is not a colour; write it as #rrggbb/s,
    );
  });
});
