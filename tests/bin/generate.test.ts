// The main job end to end through the CLI with the shipped default model: a prompt becomes an
// mp4 that ffprobe accepts and whose frames show what the prompt says.

import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { analyseFrames, PALETTE } from '../support/frame-analyser.js';

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

describe('skyloom run workflows/text-to-video.json with the default model', () => {
  it('writes a browser-playable mp4: H.264, yuv420p, 64×64, 16 frames at 8 fps', async () => {
    const { path } = await generate('a red circle moving left on a black background', 42);
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
    // With the shipped model the four directions are followed at every seed tried (1-7, 42). The
    // scale words are followed less surely (growing 78%, shrinking 61% of held-out clips, EVAL.md):
    // across the same seeds this star grows 1.33-2.08x (1.71x at 42) and shrinks to 0.40-0.52x
    // (0.49x), clear of the analyser's 1.35 / 0.74 at every seed but 7 (1.33x); "a green circle
    // growing on a navy background" grows 1.27-1.42x, either side of 1.35: it would test the seed.
    const prompts = [
      ['a red circle moving left on a black background', 'red', 'moving left'],
      ['a yellow square moving right on a navy background', 'yellow', 'moving right'],
      ['a white star moving up on a gray background', 'white', 'moving up'],
      ['a cyan triangle moving down on a black background', 'cyan', 'moving down'],
      ['a white star growing on a gray background', 'white', 'growing'],
      ['a white star shrinking on a gray background', 'white', 'shrinking'],
    ] as const;
    const seen = [];
    for (const [prompt] of prompts) {
      const { colour, motion } = analyseFrames((await generate(prompt, 42)).frames, 64, 64, 16);
      seen.push([prompt, colour, motion]);
    }
    expect(seen).toEqual(prompts);
  });

  it('skyloom generate is the shorthand for the default workflow', () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-generate-'));
    const r = skyloom('generate', 'a white square shrinking on a dark green background', '--out', out, '--steps', '8');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(out, 'skyloom_00001.mp4'));
  });
});
