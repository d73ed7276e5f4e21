// The shipped long workflow (long-60s.json, sampled window by window in latent space) holds the
// prompt's colour and background in every window, not only the first; run at 24 s to fit CI. So
// does image-to-video past its first window (run at 12 s).

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor, type Workflow } from '../../engine/index.js';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { saveImage } from '../../media/image.js';
import { createRegistry } from '../../nodes/index.js';
import { PALETTE, TRAINING_BACKGROUNDS, windowAdherence } from '../support/frame-analyser.js';

const root = resolve(import.meta.dirname, '../..');
const SECONDS = 24;

async function longRun(text: string): Promise<{ frames: Uint8Array; count: number }> {
  const wf = JSON.parse(readFileSync(join(root, 'workflows/long-60s.json'), 'utf8')) as Workflow;
  const sets: Record<string, Record<string, string | number>> = { prompt: { text }, latent: { seconds: SECONDS } };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-long-')), inputDir: root }).run(wf);
  const path = result.outputs.save.files![0].path;
  expect(await probe(path)).toMatchObject({ width: 64, height: 64, frameCount: SECONDS * 8, fps: 8 });
  const video = await decodeVideo(path);
  return { frames: await video.read(0, video.frameCount), count: video.frameCount };
}

// The background is judged per window against the training data's, by the median of each half
// of the frame; a window where the object hits an edge may flash (the model never saw an object
// stuck at an edge), so the median window must be close and no window far. Measured at seed 42
// (the workflow's), and for the pixel-space extension long-60s used before, in bench/RESULTS.md.
// The objects stay in the frame: skyloom-tiny 2.0 moves an object left or right out of the frame
// within about 3.5 s and then draws a new one, so a window can hold no object (or only its smear
// at the edge, which can vote for another colour); that is the prompt followed, not lost. Likewise
// a growing object may come to fill the frame: skyloom-tiny 2.2's blue triangle covers 0.5+ of the
// bottom half in its last second, so that window's median reads the triangle (distance 120), not
// the background. Such a window (`covered` ≥ 0.5) shows no background to judge; at most one is
// allowed, and it still counts in the median.
const cases: Array<[string, string, keyof typeof TRAINING_BACKGROUNDS]> = [
  ['a red circle standing still on a black background', 'red', 'black'],
  ['a green square moving up on a gray background', 'green', 'gray'],
  ['a blue triangle growing on a dark green background', 'blue', 'dark green'],
];

describe('long-60s at 24 s', () => {
  it.each(cases)(
    '"%s": every 1-second window shows the prompt\'s colour on the prompt\'s background',
    async (text, colour, background) => {
      const { frames, count } = await longRun(text);
      const windows = windowAdherence(frames, 64, 64, 8, TRAINING_BACKGROUNDS[background]);
      expect(windows).toHaveLength(count / 8);
      const distances = windows.map((w) => w.background);
      console.log(`${text}: background distance per window ${distances.map((d) => d.toFixed(0)).join(' ')}`);
      const filled = windows.filter((w) => w.covered >= 0.5).length;
      expect(filled, `windows the object fills (covered ${windows.map((w) => w.covered.toFixed(2)).join(' ')})`).toBeLessThanOrEqual(1);
      windows.forEach((w, n) => {
        expect(w.colour, `window ${n} (second ${n})`).toBe(colour);
        if (w.covered < 0.5) expect(w.background, `background of window ${n}`).toBeLessThanOrEqual(60);
      });
      expect([...distances].sort((a, b) => a - b)[distances.length >> 1], 'the median window background').toBeLessThanOrEqual(20);
    },
    300_000,
  );
});

// image-to-video past its first window samples in latent windows, as long-60s does. Measured at
// 12 s (bench/animate-long.ts): before, its later windows were extended in pixels and the gray
// background drifted (median distance 50 grey levels, 74 at worst) while the first window kept it.
describe('image-to-video at 12 s', () => {
  it("keeps the still as the first frame, and the prompt's colour and background in every second", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyloom-animate-'));
    // A still like the training data's: a green square on the gray background.
    const [gray] = TRAINING_BACKGROUNDS.gray;
    const still = new Uint8Array(64 * 64 * 3);
    for (let p = 0; p < 64 * 64; p++) {
      const inside = Math.abs((p % 64) - 31.5) <= 8 && Math.abs(Math.floor(p / 64) - 31.5) <= 8;
      still.set(inside ? PALETTE.green : gray, p * 3);
    }
    await saveImage({ width: 64, height: 64, data: still }, join(dir, 'still.png'), { format: 'png' });
    const wf = JSON.parse(readFileSync(join(root, 'workflows/image-to-video.json'), 'utf8')) as Workflow;
    const sets: Record<string, Record<string, string | number>> = {
      prompt: { text: 'a green square moving up on a gray background' },
      animate: { seconds: 12 },
      still: { path: join(dir, 'still.png') },
    };
    for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.type === 'load-image' ? 'still' : node.id] ?? {}) };
    const result = await new Executor(createRegistry(), { outputDir: dir, inputDir: root }).run(wf);
    const path = result.outputs.save.files![0].path;
    expect(await probe(path)).toMatchObject({ width: 64, height: 64, frameCount: 96, fps: 8 });
    const video = await decodeVideo(path);
    const frames = await video.read(0, video.frameCount);
    let first = 0;
    for (let i = 0; i < still.length; i++) first += Math.abs(frames[i] - still[i]);
    expect(first / still.length, 'the first frame against the still').toBeLessThan(2);
    const windows = windowAdherence(frames, 64, 64, 8, TRAINING_BACKGROUNDS.gray);
    const distances = windows.map((w) => w.background);
    console.log(`image-to-video 12 s: background distance per second ${distances.map((d) => d.toFixed(0)).join(' ')}`);
    windows.forEach((w, n) => {
      expect(w.colour, `second ${n}`).toBe('green');
      expect(w.background, `background of second ${n}`).toBeLessThanOrEqual(60);
    });
    expect([...distances].sort((a, b) => a - b)[distances.length >> 1], "the median second's background").toBeLessThanOrEqual(20);
  }, 300_000);
});

// video-to-video of a clip longer than the model's window samples window by window from the clip's
// latents (models/windowed.ts). Before, one DiT call over all 32 latent frames of an 8 s clip
// turned the circle purple for 5 of 8 seconds and lit up the last second (mean 36 against 11).
// The circle stands still so it is in every second (2.0's moving circle leaves the frame; those
// seconds have nothing blue to show).
describe('video-to-video of an 8 s clip', () => {
  it("re-styles every second to the prompt's colour and keeps each second's brightness", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyloom-restyle-'));
    const run = async (file: string, sets: Record<string, Record<string, string | number>>) => {
      const wf = JSON.parse(readFileSync(join(root, 'workflows', file), 'utf8')) as Workflow;
      for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
      const result = await new Executor(createRegistry(), { outputDir: dir, inputDir: root }).run(wf);
      return result.outputs.save.files![0].path;
    };
    const source = await run('text-to-video.json', { prompt: { text: 'a red circle standing still on a black background' }, latent: { seconds: 8 } });
    const restyled = await run('video-to-video.json', { prompt: { text: 'a blue circle standing still on a black background' }, video: { path: source } });
    const [a, b] = await Promise.all([source, restyled].map(async (p) => (await decodeVideo(p)).read(0, 64)));
    expect(b.length).toBe(a.length);
    const secondMean = (data: Uint8Array, s: number) => data.subarray(s * 8 * 64 * 64 * 3, (s + 1) * 8 * 64 * 64 * 3).reduce((x, v) => x + v, 0) / (8 * 64 * 64 * 3);
    const shifts = Array.from({ length: 8 }, (_, s) => secondMean(b, s) - secondMean(a, s));
    const colours = windowAdherence(b, 64, 64, 8, TRAINING_BACKGROUNDS.black).map((w) => w.colour);
    console.log(`video-to-video 8 s: colour per second ${colours.join(' ')}; brightness shift ${shifts.map((d) => d.toFixed(1)).join(' ')}`);
    expect(colours.filter((c) => c === 'blue').length, colours.join(' ')).toBeGreaterThanOrEqual(6);
    for (const [s, d] of shifts.entries()) expect(Math.abs(d), `second ${s}`).toBeLessThan(6);
  }, 300_000);
});

// A loop's transition longer than the model's window is sampled window by window in each of its
// passes (models/windowed.ts denoiseTransition: the halves from each end, then the bridge over
// both, its last window held at both ends). Before windows, one DiT call over the whole
// transition (12 latent frames for 32 frames, the window is 4) darkened it and lost the background
// (bench/transition-long.ts: darkest frame 20 against the clip's 52, background 65 grey levels off,
// wrap-around 7.4× the clip's median step).
describe('loop.json with a 32-frame transition', () => {
  it("keeps the clip's background and brightness through the transition, and wraps at a model-sized step", async () => {
    const wf = JSON.parse(readFileSync(join(root, 'workflows/loop.json'), 'utf8')) as Workflow;
    for (const node of wf.nodes) if (node.id === 'loop') node.params = { ...node.params, frames: 32 };
    const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-loop-')), inputDir: root }).run(wf);
    const video = await decodeVideo(result.outputs.save.files![0].path);
    expect(video.frameCount).toBe(48);
    const data = await video.read(0, 48);
    const fb = 64 * 64 * 3;
    const frame = (i: number) => data.subarray(i * fb, (i + 1) * fb);
    const mad = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const clipSteps = Array.from({ length: 15 }, (_, i) => mad(frame(i), frame(i + 1))).sort((a, b) => a - b);
    const wrap = mad(frame(47), frame(0));
    const background = windowAdherence(data.subarray(16 * fb), 64, 64, 4, TRAINING_BACKGROUNDS['dark green']).map((w) => w.background);
    const brightness = Array.from({ length: 32 }, (_, i) => mean(frame(16 + i)));
    console.log(
      `loop 32-frame transition: background per 4 frames ${background.map((d) => d.toFixed(0)).join(' ')}; darkest ${Math.min(...brightness).toFixed(0)} (clip ${mean(frame(0)).toFixed(0)}); wrap ${wrap.toFixed(1)} (clip median ${clipSteps[7].toFixed(1)})`,
    );
    expect([...background].sort((a, b) => a - b)[4], 'the median background distance').toBeLessThanOrEqual(20);
    expect(Math.min(...brightness)).toBeGreaterThan(0.6 * mean(frame(0)));
    expect(wrap).toBeLessThanOrEqual(4 * clipSteps[7]);
  }, 300_000);
});
