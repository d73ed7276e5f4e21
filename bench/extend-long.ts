// A long extension: a 2 s text-to-video clip extended forward by the extend node (default 20 s),
// judged per 1-second window by the frame analyser (the prompt's colour, the background's distance
// from the training background) and at the join (the step from the clip's last frame to the first
// new one against the median frame step of the whole result, and against its median step between
// latent frames, where skyloom-tiny's VAE makes a jump of its own). Figures only; the node's path is
// whatever the checkout has (#16 item 2: pixel windows before, latent windows after).
// Run: npx tsx bench/extend-long.ts [seconds] [prompts] [seeds]   (needs models/packages/skyloom-tiny; defaults 20, 5 and 1 — seeds 42, 43, …)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { decodeVideo } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import { windowAdherence, TRAINING_BACKGROUNDS } from '../tests/support/frame-analyser.js';

const PROMPTS: Array<[string, keyof typeof TRAINING_BACKGROUNDS]> = [
  ['a red circle moving left on a black background', 'black'],
  ['a green square moving up on a gray background', 'gray'],
  ['a white square moving down on a sunset background', 'sunset'],
  ['a yellow star growing on a navy background', 'navy'],
  ['a blue triangle moving right on a dark green background', 'dark green'],
];

function extension(text: string, seconds: number, seed: number): Workflow {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;
  wf.nodes.find((n) => n.id === 'prompt')!.params = { ...wf.nodes.find((n) => n.id === 'prompt')!.params, text };
  wf.nodes.find((n) => n.id === 'sampler')!.params = { ...wf.nodes.find((n) => n.id === 'sampler')!.params, seed };
  const link = (node: string, output: string) => ({ node, output });
  wf.nodes.push({
    id: 'extend',
    type: 'extend',
    params: { direction: 'forward', seconds, context: 8, seed, steps: 20, guidance: 4.5, sampler: 'euler' },
    inputs: { model: link('model', 'model'), positive: link('positive', 'conditioning'), negative: link('negative', 'conditioning'), video: link('decode', 'video') },
  });
  wf.nodes.find((n) => n.id === 'save')!.inputs = { video: link('extend', 'video') };
  return wf;
}

function step(frames: Uint8Array, frameBytes: number, f: number): number {
  let s = 0;
  for (let i = 0; i < frameBytes; i++) s += Math.abs(frames[f * frameBytes + i]! - frames[(f + 1) * frameBytes + i]!);
  return s / frameBytes;
}

const seconds = Number(process.argv[2] ?? 20);
const count = Number(process.argv[3] ?? PROMPTS.length);
const seeds = Array.from({ length: Number(process.argv[4] ?? 1) }, (_, i) => 42 + i);
const joins: number[] = [];
const borderJoins: number[] = [];
let held = 0;
let total = 0;
const backgrounds: number[] = [];
console.log(
  `2 s clip + extend ${seconds} s (context 8, seeds ${seeds.join(', ')}), per 1-second window: colour = analyser's vote; background = grey levels from the training background`,
);
for (const [text, background] of PROMPTS.slice(0, count))
  for (const seed of seeds) {
    const started = performance.now();
    const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-bench-')), inputDir: packageRoot() }).run(extension(text, seconds, seed));
    const video = await decodeVideo(Object.values(result.outputs)[0].files![0].path);
    const frames = await video.read(0, video.frameCount);
    const frameBytes = video.width * video.height * 3;
    const w = windowAdherence(frames, video.width, video.height, 8, TRAINING_BACKGROUNDS[background]);
    const colour = text.split(' ')[1];
    const later = w.slice(2).map((x) => x.background);
    const steps = Array.from({ length: video.frameCount - 1 }, (_, f) => step(frames, frameBytes, f));
    const median = [...steps].sort((a, b) => a - b)[steps.length >> 1]!;
    // The steps between latent frames (frame 4n+3 → 4n+4) other than the join: skyloom-tiny's VAE makes its own jump there.
    const borders = steps.filter((_, f) => f % 4 === 3 && f !== 15).sort((a, b) => a - b);
    const border = borders[borders.length >> 1]!;
    borderJoins.push(steps[15]! / border);
    joins.push(steps[15]! / median);
    held += w.slice(2).filter((x) => x.colour === colour).length;
    total += w.length - 2;
    backgrounds.push(...later);
    console.log(
      `  ${text} (seed ${seed}): colour ${w.filter((x) => x.colour === colour).length}/${w.length} s (extension ${w.slice(2).filter((x) => x.colour === colour).length}/${w.length - 2}); ` +
        `background clip ${w[0]!.background.toFixed(0)}, extension median ${[...later].sort((a, b) => a - b)[later.length >> 1]!.toFixed(0)}, worst ${Math.max(...later).toFixed(0)}; ` +
        `join step ${steps[15]!.toFixed(1)} / median ${median.toFixed(1)} = ${(steps[15]! / median).toFixed(2)}, / median latent-border step ${border.toFixed(1)} = ${(steps[15]! / border).toFixed(2)}, largest step ${Math.max(...steps).toFixed(1)} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
console.log(
  `all: extension colour ${held}/${total} s; extension background median ${sorted(backgrounds)[backgrounds.length >> 1]!.toFixed(0)}, worst ${Math.max(...backgrounds).toFixed(0)}; ` +
    `join step / median step: median ${sorted(joins)[joins.length >> 1]!.toFixed(2)}, worst ${Math.max(...joins).toFixed(2)}; ` +
    `join step / median latent-border step: median ${sorted(borderJoins)[borderJoins.length >> 1]!.toFixed(2)}, worst ${Math.max(...borderJoins).toFixed(2)}`,
);
