// Joins between sampling windows (#16 item 7): long-60s.json at 24 s for five prompts × seeds 42
// and 7, judged on its frames. Windows (models/windowed.ts, skyloom-tiny: 4 latent frames, each
// later one held to 1) make frames 0–15, then 12 more each, so window joins are the steps into
// frames 16, 28, 40, …; every 4th step is a latent-frame border. Per clip, ÷ its median step: the
// joins' mean and largest against the other borders' and the steps inside latent frames.
// Figures only; the sampler is whatever the checkout has.
// Run: npx tsx bench/window-joins.ts [seconds]   (needs models/packages/skyloom-tiny; default 24)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { decodeVideo } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import { frameSteps } from '../tests/support/frame-analyser.js';

const seconds = Number(process.argv[2] ?? 24);
const PROMPTS = [
  'a white square moving down on a sunset background',
  'a red circle moving left on a black background',
  'a green square moving up on a gray background',
  'a yellow star growing on a navy background',
  'a blue triangle moving right on a dark green background',
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log(`long-60s.json at ${seconds} s: window joins against the other latent-frame borders, ÷ each clip's median step`);
const rows: number[][] = [];
for (const text of PROMPTS) {
  for (const seed of [42, 7]) {
    const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'long-60s.json'), 'utf8')) as Workflow;
    for (const node of wf.nodes) {
      if (node.id === 'prompt') node.params = { ...node.params, text };
      if (node.id === 'latent') node.params = { ...node.params, seconds };
      if (node.id === 'sampler') node.params = { ...node.params, seed };
    }
    const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-joins-')), inputDir: packageRoot() }).run(wf);
    const video = await decodeVideo(Object.values(result.outputs).flatMap((o) => o.files ?? [])[0]!.path);
    const d = frameSteps(await video.read(0, video.frameCount), video.width, video.height);
    const joins = new Set<number>();
    for (let f = 16; f < video.frameCount; f += 12) joins.add(f - 1);
    const joinSteps = [...joins].map((i) => d[i]!);
    const borderSteps = d.filter((_, i) => i % 4 === 3 && !joins.has(i));
    const inner = d.filter((_, i) => i % 4 !== 3);
    const m = median(d);
    const row = [mean(joinSteps) / m, Math.max(...joinSteps) / m, mean(borderSteps) / m, Math.max(...borderSteps) / m, mean(inner) / m];
    rows.push(row);
    console.log(
      `  ${text}, seed ${seed}: joins ${row[0]!.toFixed(2)}× (largest ${row[1]!.toFixed(2)}×); other borders ${row[2]!.toFixed(2)}× (largest ${row[3]!.toFixed(2)}×); inside latent frames ${row[4]!.toFixed(2)}× (median ${m.toFixed(2)})`,
    );
  }
}
const col = (i: number) => mean(rows.map((r) => r[i]!)).toFixed(2);
console.log(`all: joins ${col(0)}× (largest ${col(1)}×); other borders ${col(2)}× (largest ${col(3)}×); inside latent frames ${col(4)}×`);
