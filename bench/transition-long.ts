// Long transitions: the shipped loop workflow (a 2 s clip from the prompt, then a generated
// transition from its end back to its start) with a transition longer than the model's 2 s window,
// judged on its frames: the largest step inside the transition and the wrap-around (last frame →
// first) against the median step of the clip, the transition's background distance from the
// prompt's training background, and its darkest frame. Figures only; the node's path is whatever
// the checkout has (#16: one DiT call over the whole transition before, windows now).
// Run: npx tsx bench/transition-long.ts [frames] [seeds]   (needs models/packages/skyloom-tiny; defaults 32 and 3 — seeds 1, 2, …;
//      STEPS=1 also prints every frame step)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { decodeVideo } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import { TRAINING_BACKGROUNDS, windowAdherence } from '../tests/support/frame-analyser.js';

const frames = Number(process.argv[2] ?? 32);
const seeds = Array.from({ length: Number(process.argv[3] ?? 3) }, (_, i) => 1 + i);
const mad = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

console.log(`loop.json with a ${frames}-frame transition (context 4; the clip is 16 frames), seeds ${seeds.join(', ')}`);
const rows: number[][] = [];
for (const seed of seeds) {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'loop.json'), 'utf8')) as Workflow;
  for (const node of wf.nodes) {
    if (node.id === 'sampler') node.params = { ...node.params, seed };
    if (node.id === 'loop') node.params = { ...node.params, frames, seed };
  }
  const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-transition-')), inputDir: packageRoot() }).run(wf);
  const video = await decodeVideo(Object.values(result.outputs)[0]!.files![0]!.path);
  const data = await video.read(0, video.frameCount);
  const fb = video.width * video.height * 3;
  const frame = (i: number) => data.subarray(i * fb, (i + 1) * fb);
  const steps = Array.from({ length: video.frameCount - 1 }, (_, i) => mad(frame(i), frame(i + 1)));
  const clipMedian = median(steps.slice(0, 15));
  const inside = Math.max(...steps.slice(16));
  if (process.env.STEPS) console.log(steps.map((x) => x.toFixed(0)).join(' '));
  const wrap = mad(frame(video.frameCount - 1), frame(0));
  const transition = data.subarray(16 * fb);
  const background = windowAdherence(transition, video.width, video.height, 4, TRAINING_BACKGROUNDS['dark green']!).map((w) => w.background);
  const darkest = Math.min(...Array.from({ length: frames }, (_, i) => mean(frame(16 + i))));
  rows.push([inside / clipMedian, wrap / clipMedian, median(background), Math.max(...background), darkest, mean(frame(0))]);
  console.log(
    `  seed ${seed}: largest step inside the transition ${inside.toFixed(1)} = ${(inside / clipMedian).toFixed(2)}× the clip's median step (${clipMedian.toFixed(1)}); wrap ${wrap.toFixed(1)} = ${(wrap / clipMedian).toFixed(2)}×; ` +
      `transition background from dark green per 4 frames: median ${median(background).toFixed(0)}, worst ${Math.max(...background).toFixed(0)}; darkest frame mean ${darkest.toFixed(0)} (the clip's first ${mean(frame(0)).toFixed(0)})`,
  );
}
const col = (i: number) => rows.map((r) => r[i]!);
console.log(
  `all: largest step inside ÷ clip median: median ${median(col(0)).toFixed(2)}, worst ${Math.max(...col(0)).toFixed(2)}; wrap ÷ clip median: median ${median(col(1)).toFixed(2)}, worst ${Math.max(...col(1)).toFixed(2)}; ` +
    `background median ${median(col(2)).toFixed(0)}, worst ${Math.max(...col(3)).toFixed(0)}; darkest frame ${Math.min(...col(4)).toFixed(0)}`,
);
