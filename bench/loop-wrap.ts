// Loop wrap-around and transition joins (#16 item 7): the shipped loop workflow at several seeds,
// the quality test's loop of workflows/assets/clip.mp4, and connect from clip.mp4 to clip-b.mp4,
// judged on their frames. Per loop (played twice): the wrap (last frame → first), the step into
// the transition, and the largest step, each ÷ the loop's median step; the wrap ÷ the clip's own
// steps into its latent frames 2–4; and whether the wrap is at most the largest other step.
// Figures only; the nodes' path is whatever the checkout has.
// Run: npx tsx bench/loop-wrap.ts [seeds]   (needs models/packages/skyloom-tiny; default 12 — seeds 1, 2, …)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow, type WorkflowNode } from '../engine/index.js';
import { decodeVideo } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import { frameSteps } from '../tests/support/frame-analyser.js';

const seeds = Array.from({ length: Number(process.argv[2] ?? 12) }, (_, i) => 1 + i);
const TRANSITION = 8;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function steps(wf: Workflow): Promise<number[]> {
  const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-loop-wrap-')), inputDir: packageRoot() }).run(wf);
  const video = await decodeVideo(Object.values(result.outputs).flatMap((o) => o.files ?? [])[0]!.path);
  const data = await video.read(0, video.frameCount);
  return frameSteps(Buffer.concat([data, data]), video.width, video.height);
}

type Row = { wrap: number; into: number; largest: number; wrapBorder: number; below: boolean };
const rows: Row[] = [];
function judge(label: string, d: number[], frames: number): void {
  const clipEnd = frames - TRANSITION - 1;
  const wrap = d[frames - 1]!;
  const into = d[clipEnd]!;
  const others = d.slice(0, frames - 1).filter((_, i) => i !== clipEnd);
  const m = median(others);
  const border = median([3, 7, 11].map((i) => d[i]!));
  const row = { wrap: wrap / m, into: into / m, largest: Math.max(...d.slice(0, frames)) / m, wrapBorder: wrap / border, below: wrap <= Math.max(...others) };
  rows.push(row);
  console.log(
    `${label}: wrap ${wrap.toFixed(2)} = ${row.wrap.toFixed(2)}× the median (${m.toFixed(2)}), ${row.wrapBorder.toFixed(2)}× the clip's border step; ` +
      `into the transition ${row.into.toFixed(2)}×; largest step ${row.largest.toFixed(2)}×; wrap ≤ largest other step (${Math.max(...others).toFixed(2)}): ${row.below}`,
  );
}

const model = { node: 'model', output: 'model' };
const gen = { model, positive: { node: 'prompt', output: 'conditioning' } };
const base: WorkflowNode[] = [
  { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny' } },
  { id: 'prompt', type: 'text-encode', params: { text: 'a red circle moving left on a black background' }, inputs: { model } },
  { id: 'clip', type: 'load-video', params: { path: 'workflows/assets/clip.mp4' } },
];
const withSave = (nodes: WorkflowNode[]): Workflow => ({
  format: 'skyloom-workflow',
  version: 3,
  nodes: [...base, ...nodes, { id: 'save', type: 'save-video', params: { crf: 10 }, inputs: { video: { node: 'result', output: 'video' } } }],
});
const sampling = { context: 4, frames: TRANSITION, steps: 10, guidance: 6 };

judge('quality test loop (clip.mp4)', await steps(withSave([{ id: 'result', type: 'loop', params: sampling, inputs: { ...gen, video: { node: 'clip', output: 'video' } } }])), 24);
for (const seed of seeds) {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'loop.json'), 'utf8')) as Workflow;
  for (const node of wf.nodes) if (node.id === 'sampler' || node.id === 'loop') node.params = { ...node.params, seed };
  judge(`loop.json seed ${seed}`, await steps(wf), 16 + TRANSITION);
}
const avg = (k: 'wrap' | 'into' | 'largest' | 'wrapBorder') => mean(rows.map((r) => r[k])).toFixed(2);
console.log(
  `all ${rows.length} loops, means: wrap ${avg('wrap')}× the median, ${avg('wrapBorder')}× the clip's border step; into the transition ${avg('into')}×; ` +
    `largest step ${avg('largest')}× (worst ${Math.max(...rows.map((r) => r.largest)).toFixed(2)}); wrap ≤ largest other step in ${rows.filter((r) => r.below).length} of ${rows.length}`,
);

const joined = (
  await steps(
    withSave([
      { id: 'other', type: 'load-video', params: { path: 'workflows/assets/clip-b.mp4' } },
      { id: 'result', type: 'connect', params: sampling, inputs: { ...gen, first: { node: 'clip', output: 'video' }, second: { node: 'other', output: 'video' } } },
    ]),
  )
).slice(0, 39);
const others = joined.filter((_, i) => i !== 15 && i !== 23);
console.log(
  `connect clip.mp4 → clip-b.mp4: into the transition ${joined[15]!.toFixed(2)}, into the second clip ${joined[23]!.toFixed(2)}; ` +
    `largest other step ${Math.max(...others).toFixed(2)}, median ${median(others).toFixed(2)}`,
);
