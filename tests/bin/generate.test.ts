// The main job end to end through the CLI with the shipped default model: a prompt becomes an
// mp4 that ffprobe accepts and whose frames show what the prompt says.

import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { analyseFrames, frameSteps, PALETTE, shapeOf } from '../support/frame-analyser.js';

const root = resolve(import.meta.dirname, '../..');

function skyloom(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function generate(prompt: string, seed: number, aspect = '1:1'): Promise<{ path: string; frames: Uint8Array }> {
  const out = mkdtempSync(join(tmpdir(), 'skyloom-generate-'));
  const workflow = { '1:1': 'text-to-video', '16:9': 'text-to-video-16x9', '9:16': 'text-to-video-9x16' }[aspect]!;
  const r = skyloom('run', `workflows/${workflow}.json`, '--set', `prompt.text=${prompt}`, '--set', `sampler.seed=${seed}`, '--out', out);
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  const path = r.stdout.trim();
  expect(path).toBe(join(out, 'skyloom_00001.mp4'));
  const video = await decodeVideo(path);
  return { path, frames: await video.read(0, video.frameCount) };
}

/** One run per prompt and seed for the tests that only judge frames (the seed test runs its own). */
const runs = new Map<string, ReturnType<typeof generate>>();
function generated(prompt: string, seed: number): ReturnType<typeof generate> {
  const key = `${seed} ${prompt}`;
  if (!runs.has(key)) runs.set(key, generate(prompt, seed));
  return runs.get(key)!;
}

describe('skyloom run workflows/text-to-video.json with the default model', () => {
  it('writes a browser-playable mp4: H.264, yuv420p, 64×64, 16 frames at 8 fps', async () => {
    const { path } = await generated('a red circle moving left on a black background', 42);
    expect(await probe(path)).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 64, height: 64, frameCount: 16, fps: 8 });
  });

  it('the same seed gives the same frames; another seed or prompt gives others', async () => {
    const a = await generate('a green star growing on a gray background', 3);
    const b = await generate('a green star growing on a gray background', 3);
    const c = await generate('a green star growing on a gray background', 4);
    const d = await generate('a green triangle growing on a gray background', 3);
    expect(Buffer.from(a.frames).equals(Buffer.from(b.frames))).toBe(true);
    expect(Buffer.from(a.frames).equals(Buffer.from(c.frames))).toBe(false);
    expect(Buffer.from(a.frames).equals(Buffer.from(d.frames))).toBe(false);
  });

  it('the colour in the frames follows the prompt: each clip is the most like its own colour', async () => {
    const colours = ['red', 'green', 'blue', 'yellow'] as const;
    const clips = [];
    for (const c of colours) clips.push(analyseFrames((await generate(`a ${c} circle standing still on a black background`, 42)).frames, 64, 64, 16));
    for (const [i, c] of colours.entries()) {
      const target = PALETTE[c];
      const distances = clips.map((a) => Math.hypot(a.meanColour[0] - target[0], a.meanColour[1] - target[1], a.meanColour[2] - target[2]));
      // The clip prompted with this colour is nearer to it than every clip prompted with another.
      expect(distances.indexOf(Math.min(...distances))).toBe(i);
    }
  });

  it('the motion in the frames follows the prompt: left, right, up, down, growing, shrinking', async () => {
    // With skyloom-tiny 2.1 (seeds 1-7 and 42) the colour and the motion of these six prompts are
    // followed at every seed but two (the growing star stands still at seed 1 and moves left at
    // seed 2). With 2.0 "a cyan triangle moving down on a black background" came out green-cyan,
    // judged green at 4 of 8 seeds, so the triangle here is green; 2.1 draws it cyan at all 8.
    const prompts = [
      ['a red circle moving left on a black background', 'red', 'moving left'],
      ['a yellow square moving right on a navy background', 'yellow', 'moving right'],
      ['a white star moving up on a gray background', 'white', 'moving up'],
      ['a green triangle moving down on a black background', 'green', 'moving down'],
      ['a white star growing on a gray background', 'white', 'growing'],
      ['a white star shrinking on a gray background', 'white', 'shrinking'],
    ] as const;
    const seen = [];
    for (const [prompt] of prompts) {
      const { colour, motion } = analyseFrames((await generated(prompt, 42)).frames, 64, 64, 16);
      seen.push([prompt, colour, motion]);
    }
    expect(seen).toEqual(prompts);
  });

  // skyloom-tiny 2.2 (one DiT token per latent cell, a decoder weighed on outlines) draws squares
  // with straight sides; 2.1's had dented sides, which cut their fill of the bounding box to a
  // circle's (held-out shape 37.2% -> 42.5%, EVAL.md "Model 2.2"; 2.3: 45.4%). Over seeds 1-7
  // and 42, judged by shapeOf (the training evaluation's judge): "a red square moving left on a
  // black background" is a square at 6 with 2.3 (1-5, 42; 2.2: 4; 2.1: none, circle at all 8) and
  // "a purple star standing still on a black background" a star at 3 (5, 7, 42; 2.2 and 2.1: 3).
  // The rest are judged circles (squares whose corners are soft) or triangles (stars that lost
  // points).
  it('the shape in the frames follows the prompt: circle, triangle', async () => {
    const seen = [];
    for (const prompt of ['a red circle moving left on a black background', 'a green triangle moving down on a black background']) {
      seen.push([prompt, shapeOf((await generated(prompt, 42)).frames, 64, 64, 16)]);
    }
    expect(seen).toEqual([
      ['a red circle moving left on a black background', 'circle'],
      ['a green triangle moving down on a black background', 'triangle'],
    ]);
  });

  it('the shape in the frames follows the prompt: square, star', async () => {
    const square = await generate('a red square moving left on a black background', 42);
    expect(shapeOf(square.frames, 64, 64, 16)).toBe('square');
    const star = await generate('a purple star standing still on a black background', 42);
    expect(shapeOf(star.frames, 64, 64, 16)).toBe('star');
  });

  // The README's first command. The circle moves left at an even pace from the first frame on
  // (latent.decoderPrime; decoded plain, 2.0's VAE held the first 4 frames still: 2.9x the
  // median), and the decoder looks one latent frame ahead, so a new latent frame does not start
  // with a jump. In the mp4 2.1's steps are 2.1 2.1 1.8, 2.5 into frame 4, then 2.1 1.9 … with a
  // median of 1.9: 1.30x (seeds 1-7: 1.12-1.50x). 2.0: 1.81x (seeds 1-7: 1.32-1.75x); 2.25x with
  // its causal decoder, 2.9x unprimed. EVAL.md, "Model 2.1" and "Looking one latent frame ahead".
  it("the README's first command moves smoothly: no frame step larger than twice the median step", async () => {
    const steps = frameSteps((await generated('a red circle moving left on a black background', 42)).frames, 64, 64);
    const median = [...steps].sort((a, b) => a - b)[7]!;
    expect(Math.max(...steps) / median, steps.map((d) => d.toFixed(1)).join(' ')).toBeLessThanOrEqual(2);
  });

  it('skyloom generate is the shorthand for the default workflow', () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-generate-'));
    const r = skyloom('generate', 'a white square shrinking on a dark green background', '--out', out, '--steps', '8');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(out, 'skyloom_00001.mp4'));
  });
});
