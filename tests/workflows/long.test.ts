// The shipped long workflow (long-60s.json, sampled window by window in latent space) holds the
// prompt's colour and background in every window, not only the first; run at 24 s to fit CI.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor, type Workflow } from '../../engine/index.js';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { createRegistry } from '../../nodes/index.js';
import { TRAINING_BACKGROUNDS, windowAdherence } from '../support/frame-analyser.js';

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
const cases: Array<[string, string, keyof typeof TRAINING_BACKGROUNDS]> = [
  ['a red circle moving left on a black background', 'red', 'black'],
  ['a green square moving up on a gray background', 'green', 'gray'],
  ['a blue triangle moving right on a dark green background', 'blue', 'dark green'],
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
      windows.forEach((w, n) => {
        expect(w.colour, `window ${n} (second ${n})`).toBe(colour);
        expect(w.background, `background of window ${n}`).toBeLessThanOrEqual(60);
      });
      expect([...distances].sort((a, b) => a - b)[distances.length >> 1], 'the median window background').toBeLessThanOrEqual(20);
    },
    300_000,
  );
});
