// The extend node over long extensions on the shipped model: the prompt's colour and background hold second by second, and the user's frames come back byte for byte.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineNode, Executor, packageRoot, type Workflow } from '../../engine/index.js';
import { VideoWriter } from '../../media/frames.js';
import { createRegistry } from '../../nodes/index.js';
import { TRAINING_BACKGROUNDS, windowAdherence } from '../support/frame-analyser.js';

const FRAME = 64 * 64 * 3;
const PROMPT = 'a green square moving up on a gray background';
let source: Uint8Array;
let captured: Uint8Array;

// A clip made in the test (its bytes known exactly) in, and the extend node's frames out, with no codec between.
const clipNode = defineNode({
  type: 'test-clip',
  version: 1,
  category: 'test',
  description: 'The source clip, as raw frames.',
  inputs: {},
  params: {},
  outputs: { video: { type: 'VIDEO' } },
  run: async (_inputs, ctx) => {
    const writer = new VideoWriter({ width: 64, height: 64, fps: 8 }, { dir: ctx.tempDir });
    await writer.append(source);
    return { video: await writer.finish() };
  },
});
const captureNode = defineNode({
  type: 'test-capture',
  version: 1,
  category: 'test',
  description: 'Keeps the frames it is given.',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  params: {},
  outputs: {},
  run: async ({ video }) => {
    captured = await video.read(0, video.frameCount);
    return {};
  },
});

function registry() {
  const r = createRegistry();
  r.register(clipNode);
  r.register(captureNode);
  return r;
}

function shipped(file: string): Workflow {
  return JSON.parse(readFileSync(join(packageRoot(), 'workflows', file), 'utf8')) as Workflow;
}

async function run(wf: Workflow): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'skyloom-extend-long-'));
  await new Executor(registry(), { outputDir: dir, inputDir: packageRoot(), tempDir: dir }).run(wf);
  return captured;
}

/** The shipped extend workflow with the test's clip in, `seconds` to add, and its frames captured. */
function extension(file: string, seconds: number): Workflow {
  const wf = shipped(file);
  wf.nodes.find((n) => n.id === 'prompt')!.params = { text: PROMPT };
  wf.nodes.find((n) => n.id === 'video')!.type = 'test-clip';
  wf.nodes.find((n) => n.id === 'video')!.params = {};
  wf.nodes.find((n) => n.id === 'extend')!.params!['seconds'] = seconds;
  const save = wf.nodes.find((n) => n.id === 'save')!;
  save.type = 'test-capture';
  save.params = {};
  return wf;
}

beforeAll(async () => {
  const wf = shipped('text-to-video.json');
  wf.nodes.find((n) => n.id === 'prompt')!.params = { text: PROMPT };
  const save = wf.nodes.find((n) => n.id === 'save')!;
  save.type = 'test-capture';
  save.params = {};
  source = await run(wf);
  expect(source.length).toBe(16 * FRAME);
}, 120_000);

/** Per 1-second window of the new frames: the analyser's colour and the background's distance from the prompt's. */
function seconds(frames: Uint8Array): Array<{ colour: string; background: number }> {
  return windowAdherence(frames, 64, 64, 8, TRAINING_BACKGROUNDS['gray']!);
}

describe('extend over long extensions (skyloom-tiny)', () => {
  it('forward by 10 s: the 2 s clip comes back byte for byte; every new second keeps the square green and the background gray', async () => {
    const out = await run(extension('extend-forward.json', 10));
    expect(out.length).toBe((16 + 80) * FRAME);
    expect(Buffer.from(out.subarray(0, 16 * FRAME)).equals(Buffer.from(source))).toBe(true);
    const added = seconds(out.subarray(16 * FRAME));
    expect(added).toHaveLength(10);
    // Measured: 10 of 10 seconds green, backgrounds 2–13 grey levels from the gray. The pixel
    // windows extend used before (each window's context back through the VAE) drifted to 25–76.
    expect(added.map((s) => s.colour).filter((c) => c !== 'green').length, added.map((s) => s.colour).join(', ')).toBeLessThanOrEqual(1);
    for (const [i, s] of added.entries()) expect(s.background, `background of new second ${i}`).toBeLessThan(30);
  }, 300_000);

  it('backward by 4 s: the new seconds come first, the clip after them unchanged, and the prompt holds', async () => {
    const out = await run(extension('extend-backward.json', 4));
    expect(out.length).toBe((32 + 16) * FRAME);
    expect(Buffer.from(out.subarray(32 * FRAME)).equals(Buffer.from(source))).toBe(true);
    const added = seconds(out.subarray(0, 32 * FRAME));
    // Measured: 4 of 4 green, 2–16 grey levels (the pixel windows before: 55–86).
    expect(added.map((s) => s.colour).filter((c) => c !== 'green').length, added.map((s) => s.colour).join(', ')).toBeLessThanOrEqual(1);
    for (const [i, s] of added.entries()) expect(s.background, `background of new second ${i}`).toBeLessThan(30);
  }, 300_000);

  it("refuses a context that fills the model's window, before sampling", async () => {
    const wf = extension('extend-forward.json', 2);
    wf.nodes.find((n) => n.id === 'extend')!.params!['context'] = 16;
    const run = new Executor(registry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-extend-long-')), inputDir: packageRoot() }).run(wf);
    await expect(run).rejects.toThrow("context of 16 frames leaves no room for new frames in the model's 16-frame window");
  });
});
