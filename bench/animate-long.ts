// A long image-to-video: a drawn still (a shape of the prompt's colour on the prompt's training
// background) animated for S seconds (default 12) by the shipped image-to-video workflow, judged per
// 1-second window by the frame analyser (the prompt's colour; the background's distance from the
// training background), at the still (the first frame against the image) and by its frame steps
// (the largest, and the median step into a new latent frame, against the median step). Figures
// only; the node's path is whatever the checkout has (#16: pixel windows after the first before,
// latent windows now).
// Run: npx tsx bench/animate-long.ts [seconds] [prompts] [seeds]   (needs models/packages/skyloom-tiny; defaults 12, 4 and 1 — seeds 42, 43, …)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { decodeVideo } from '../media/ffmpeg.js';
import { saveImage } from '../media/image.js';
import { createRegistry } from '../nodes/index.js';
import { PALETTE, TRAINING_BACKGROUNDS, windowAdherence } from '../tests/support/frame-analyser.js';

const SIZE = 64;
const PROMPTS: Array<[string, keyof typeof PALETTE, keyof typeof TRAINING_BACKGROUNDS]> = [
  ['a red circle moving left on a black background', 'red', 'black'],
  ['a green square moving up on a gray background', 'green', 'gray'],
  ['a yellow circle moving right on a navy background', 'yellow', 'navy'],
  ['a white square moving down on a sunset background', 'white', 'sunset'],
];

/** A still like the training data's first frames: a vertical-gradient background and a 16-pixel shape in the middle. */
async function still(colour: keyof typeof PALETTE, background: keyof typeof TRAINING_BACKGROUNDS, square: boolean, path: string): Promise<Uint8Array> {
  const [top, bottom] = TRAINING_BACKGROUNDS[background]!;
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const inside = square ? Math.abs(x - 31.5) <= 8 && Math.abs(y - 31.5) <= 8 : Math.hypot(x - 31.5, y - 31.5) <= 9;
      for (let c = 0; c < 3; c++) data[(y * SIZE + x) * 3 + c] = inside ? PALETTE[colour]![c]! : Math.round(top[c]! + ((bottom[c]! - top[c]!) * y) / (SIZE - 1));
    }
  await saveImage({ width: SIZE, height: SIZE, data }, path, { format: 'png' });
  return data;
}

function workflow(text: string, image: string, seconds: number, seed: number): Workflow {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'image-to-video.json'), 'utf8')) as Workflow;
  const set = (id: string, params: Record<string, string | number>) => {
    const node = wf.nodes.find((n) => n.id === id)!;
    node.params = { ...node.params, ...params };
  };
  set('prompt', { text });
  set('animate', { seconds, seed });
  wf.nodes.find((n) => n.type === 'load-image')!.params = { path: image };
  return wf;
}

const mad = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const seconds = Number(process.argv[2] ?? 12);
const count = Number(process.argv[3] ?? PROMPTS.length);
const seeds = Array.from({ length: Number(process.argv[4] ?? 1) }, (_, i) => 42 + i);
const dir = mkdtempSync(join(tmpdir(), 'skyloom-animate-'));
let held = 0;
let total = 0;
const backgrounds: number[] = [];
const joinRatios: number[] = [];
console.log(`image-to-video ${seconds} s (seeds ${seeds.join(', ')}), per 1-second window: colour = analyser's vote; background = grey levels from the training background`);
for (const [n, [text, colour, background]] of PROMPTS.slice(0, count).entries())
  for (const seed of seeds) {
    const image = join(dir, `still-${n}.png`);
    const drawn = await still(colour, background, text.includes('square'), image);
    const started = performance.now();
    const result = await new Executor(createRegistry(), { outputDir: dir, inputDir: packageRoot() }).run(workflow(text, image, seconds, seed));
    const video = await decodeVideo(Object.values(result.outputs)[0]!.files![0]!.path);
    const frames = await video.read(0, video.frameCount);
    const frameBytes = video.width * video.height * 3;
    const frame = (i: number) => frames.subarray(i * frameBytes, (i + 1) * frameBytes);
    const w = windowAdherence(frames, video.width, video.height, 8, TRAINING_BACKGROUNDS[background]!);
    const steps = Array.from({ length: video.frameCount - 1 }, (_, f) => mad(frame(f), frame(f + 1)));
    // Steps into a new latent frame (frames 4, 8, …; where skyloom-tiny's VAE jumps, and where windows join).
    const borders = steps.filter((_, f) => f % 4 === 3);
    held += w.filter((x) => x.colour === colour).length;
    total += w.length;
    backgrounds.push(...w.map((x) => x.background));
    joinRatios.push(Math.max(...steps) / median(steps));
    console.log(
      `  ${text} (seed ${seed}): first frame vs still ${mad(frame(0), drawn).toFixed(2)}; colour ${w.filter((x) => x.colour === colour).length}/${w.length} s; ` +
        `background median ${median(w.map((x) => x.background)).toFixed(0)}, worst ${Math.max(...w.map((x) => x.background)).toFixed(0)} (per second: ${w.map((x) => x.background.toFixed(0)).join(' ')}); ` +
        `latent-border step / median step ${(median(borders) / median(steps)).toFixed(2)}, largest step / median ${(Math.max(...steps) / median(steps)).toFixed(2)} (into frame ${steps.indexOf(Math.max(...steps)) + 1}) (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
console.log(
  `all: colour ${held}/${total} s; background median ${median(backgrounds).toFixed(0)}, worst ${Math.max(...backgrounds).toFixed(0)}; largest step / median step: median ${median(joinRatios).toFixed(2)}, worst ${Math.max(...joinRatios).toFixed(2)}`,
);
