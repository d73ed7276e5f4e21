// Sound through the nodes that keep a clip's timeline: a 440 Hz tone must stay under its own frames, with silence under generated ones.

import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { ffmpegPath, probe, probeAudio } from '../../media/ffmpeg.js';
import { createRegistry } from '../../nodes/index.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

const modelsDir = mkdtempSync(join(tmpdir(), 'skyloom-models-'));
const work = mkdtempSync(join(tmpdir(), 'skyloom-audio-'));
const previous = process.env.SKYLOOM_MODELS;
const RATE = 48_000;

/** A 16×16 testsrc clip at 8 fps with `audio` as its sound (an lavfi source), or none. */
function clip(name: string, seconds: number, audio?: string): void {
  const args = ['-y', '-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=16x16:rate=8:duration=${seconds}`];
  if (audio) args.push('-f', 'lavfi', '-i', audio, '-c:a', 'aac', '-b:a', '192k');
  args.push('-t', String(seconds), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '0', join(work, name));
  execFileSync(ffmpegPath(), args);
}

beforeAll(async () => {
  await writeSkyloomPackage(join(modelsDir, 'tiny'), { name: 'tiny' });
  process.env.SKYLOOM_MODELS = modelsDir;
  clip('tone.mp4', 2, 'sine=frequency=440:sample_rate=48000:duration=2');
  // 440 Hz for the first 2 s, then silence to 4 s: a cut in the wrong place shows.
  clip('half.mp4', 4, 'sine=frequency=440:sample_rate=48000:duration=2,apad');
  clip('mute.mp4', 2);
});
afterAll(() => {
  if (previous === undefined) delete process.env.SKYLOOM_MODELS;
  else process.env.SKYLOOM_MODELS = previous;
});

const base: WorkflowNode[] = [
  { id: 'model', type: 'load-model', params: { name: 'tiny' } },
  { id: 'prompt', type: 'text-encode', params: { text: 'a red circle' }, inputs: { model: { node: 'model', output: 'model' } } },
  { id: 'tone', type: 'load-video', params: { path: 'tone.mp4' } },
  { id: 'half', type: 'load-video', params: { path: 'half.mp4' } },
  { id: 'mute', type: 'load-video', params: { path: 'mute.mp4' } },
];
const gen = { model: { node: 'model', output: 'model' }, positive: { node: 'prompt', output: 'conditioning' } };

async function run(nodes: WorkflowNode[], save: Record<string, unknown> = {}): Promise<string> {
  const out = mkdtempSync(join(work, 'out-'));
  const wf: Workflow = {
    format: 'skyloom-workflow',
    version: 3,
    nodes: [...base, ...nodes, { id: 'save', type: 'save-video', params: { crf: 0, ...save }, inputs: { video: { node: 'result', output: 'video' } } }],
  };
  const result = await new Executor(createRegistry(), { outputDir: out, inputDir: work }).run(wf);
  return result.outputs.save.files![0].path;
}

/** The file's sound as mono float samples at 48 kHz. */
function samples(file: string): Float32Array {
  const raw = execFileSync(ffmpegPath(), ['-v', 'error', '-i', file, '-map', '0:a:0', '-ac', '1', '-ar', String(RATE), '-f', 'f32le', 'pipe:1'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
}

/**
 * RMS and the share of the power at 440 Hz (Goertzel) over seconds [from, to], 0.1 s in from
 * each end: AAC's frames smear a cut over a few milliseconds.
 */
function segment(x: Float32Array, from: number, to: number): { rms: number; tone: number } {
  const a = Math.round((from + 0.1) * RATE);
  const b = Math.min(x.length, Math.round((to - 0.1) * RATE));
  const w = (2 * Math.PI * 440) / RATE;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = a; i < b; i++) {
    const s0 = x[i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x[i] * x[i];
  }
  const n = b - a;
  const power440 = (s1 * s1 + s2 * s2 - coeff * s1 * s2) / n; // |X(440)|² / n
  return { rms: Math.sqrt(energy / n), tone: energy > 0 ? (2 * power440) / energy : 0 };
}

/** Asserts the tone is under `toneSeconds` and silence under `silentSeconds`. */
function expectLayout(file: string, toneSeconds: Array<[number, number]>, silentSeconds: Array<[number, number]>): void {
  const x = samples(file);
  for (const [from, to] of toneSeconds) {
    const s = segment(x, from, to);
    // lavfi's sine has amplitude 1/8: RMS 0.088; nearly all of it at 440 Hz.
    expect(s.rms, `tone at ${from}–${to} s`).toBeGreaterThan(0.07);
    expect(s.tone, `440 Hz share at ${from}–${to} s`).toBeGreaterThan(0.9);
  }
  for (const [from, to] of silentSeconds) expect(segment(x, from, to).rms, `silence at ${from}–${to} s`).toBeLessThan(0.002);
}

async function expectDuration(file: string, seconds: number): Promise<void> {
  const audio = await probeAudio(file);
  expect(audio?.codec).toBe('aac');
  expect(audio!.duration).toBeGreaterThan(seconds - 0.03);
  // AAC's priming adds at most one 1024-sample frame (21 ms) to the stream's length.
  expect(audio!.duration).toBeLessThan(seconds + 0.05);
  expect((await probe(file)).frameCount).toBe(seconds * 8);
}

describe('sound follows the frames', () => {
  it('load-video and save-video keep the tone', async () => {
    const file = await run([{ id: 'result', type: 'trim', params: { start: 0, duration: 0 }, inputs: { video: { node: 'tone', output: 'video' } } }]);
    await expectDuration(file, 2);
    expectLayout(file, [[0, 2]], []);
  });

  it('trim cuts the sound with the frames', async () => {
    const file = await run([{ id: 'result', type: 'trim', params: { start: 1, duration: 2 }, inputs: { video: { node: 'half', output: 'video' } } }]);
    await expectDuration(file, 2);
    expectLayout(file, [[0, 1]], [[1, 2]]);
  });

  it('extend forward: the tone under the kept frames, silence under the new ones', async () => {
    const file = await run([{ id: 'result', type: 'extend', params: { seconds: 1, context: 4, steps: 2 }, inputs: { ...gen, video: { node: 'tone', output: 'video' } } }]);
    await expectDuration(file, 3);
    expectLayout(file, [[0, 2]], [[2, 3]]);
  });

  it('extend backward: silence first, then the tone', async () => {
    const file = await run([
      { id: 'result', type: 'extend', params: { direction: 'backward', seconds: 1, context: 4, steps: 2 }, inputs: { ...gen, video: { node: 'tone', output: 'video' } } },
    ]);
    await expectDuration(file, 3);
    expectLayout(file, [[1, 3]], [[0, 1]]);
  });

  it('concat joins the sounds in order, with silence under a clip that has none', async () => {
    const a = await run([{ id: 'result', type: 'concat', inputs: { first: { node: 'half', output: 'video' }, second: { node: 'tone', output: 'video' } } }]);
    await expectDuration(a, 6);
    expectLayout(
      a,
      [
        [0, 2],
        [4, 6],
      ],
      [[2, 4]],
    );
    const b = await run([{ id: 'result', type: 'concat', inputs: { first: { node: 'mute', output: 'video' }, second: { node: 'tone', output: 'video' } } }]);
    await expectDuration(b, 4);
    expectLayout(b, [[2, 4]], [[0, 2]]);
  });

  it('connect and loop put silence under the transition', async () => {
    const c = await run([
      {
        id: 'result',
        type: 'connect',
        params: { context: 4, frames: 8, steps: 2 },
        inputs: { ...gen, first: { node: 'tone', output: 'video' }, second: { node: 'tone', output: 'video' } },
      },
    ]);
    await expectDuration(c, 5);
    expectLayout(
      c,
      [
        [0, 2],
        [3, 5],
      ],
      [[2, 3]],
    );
    const l = await run([{ id: 'result', type: 'loop', params: { context: 4, frames: 8, steps: 2 }, inputs: { ...gen, video: { node: 'tone', output: 'video' } } }]);
    await expectDuration(l, 3);
    expectLayout(l, [[0, 2]], [[2, 3]]);
  });

  it('fps and resize keep the sound as it was', async () => {
    const f = await run([{ id: 'result', type: 'fps', params: { fps: 16 }, inputs: { video: { node: 'half', output: 'video' } } }]);
    expect((await probeAudio(f))!.duration).toBeCloseTo(4, 1);
    expectLayout(f, [[0, 2]], [[2, 4]]);
    const r = await run([{ id: 'result', type: 'resize', params: { preset: 'custom', width: 32, height: 32 }, inputs: { video: { node: 'half', output: 'video' } } }]);
    expectLayout(r, [[0, 2]], [[2, 4]]);
  });

  it('video to video keeps the sound through encode, sampling and decode', async () => {
    const file = await run([
      { id: 'enc', type: 'vae-encode', inputs: { model: { node: 'model', output: 'model' }, video: { node: 'tone', output: 'video' } } },
      { id: 'sample', type: 'dit-sampler', params: { steps: 2, denoise: 0.5 }, inputs: { ...gen, latent: { node: 'enc', output: 'latent' } } },
      { id: 'result', type: 'vae-decode', inputs: { model: { node: 'model', output: 'model' }, latent: { node: 'sample', output: 'latent' } } },
    ]);
    expectLayout(file, [[0, 2]], []);
  });

  it('save-video writes Opus in webm, nothing in gif, and nothing with strip_audio', async () => {
    const trim = [{ id: 'result', type: 'trim', inputs: { video: { node: 'tone', output: 'video' } } }];
    const webm = await run(trim, { format: 'webm' });
    expect((await probeAudio(webm))?.codec).toBe('opus');
    expectLayout(webm, [[0, 2]], []);
    expect(await probeAudio(await run(trim, { format: 'gif' }))).toBeUndefined();
    const stripped = await run(trim, { strip_audio: true });
    expect(await probeAudio(stripped)).toBeUndefined();
    expect((await probe(stripped)).frameCount).toBe(16);
  });
});
