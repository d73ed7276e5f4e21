// Long and large video: wall time and peak memory of the long-60s workflow (sampled window by
// window in latent space, models/windowed.ts) at 4 s and at 60 s, each in its own process so peaks
// do not mix (the 4 s run is the reference); how well its 60 s clip holds the prompt, window by
// window, against the pixel-space extension long-60s used before (a 2 s clip + the extend node);
// and the 1080p workflow per second of video.
// Run: npx tsx bench/long-video.ts            (needs models/packages/skyloom-tiny)
//      npx tsx bench/long-video.ts prompt     (only the prompt-adherence part)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { decodeVideo, probe } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import { windowAdherence, TRAINING_BACKGROUNDS } from '../tests/support/frame-analyser.js';

type Sets = Record<string, Record<string, number | string>>;

function workflow(file: string, sets: Sets): Workflow {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', file), 'utf8')) as Workflow;
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  return wf;
}

/** What long-60s was before: a 2 s text-to-video clip extended forward in pixels by `seconds`. */
function pixelExtension(seconds: number, sets: Sets): Workflow {
  const wf = workflow('text-to-video.json', sets);
  const link = (node: string, output: string) => ({ node, output });
  wf.nodes.push({
    id: 'extend',
    type: 'extend',
    params: { direction: 'forward', seconds, context: 8, seed: 42, steps: 20, guidance: 4.5, sampler: 'euler' },
    inputs: { model: link('model', 'model'), positive: link('positive', 'conditioning'), negative: link('negative', 'conditioning'), video: link('decode', 'video') },
  });
  wf.nodes.find((n) => n.id === 'save')!.inputs = { video: link('extend', 'video') };
  return wf;
}

async function runOnce(wf: Workflow): Promise<string> {
  const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-bench-')), inputDir: packageRoot() }).run(wf);
  return Object.values(result.outputs)[0].files![0].path;
}

async function measureChild(file: string, sets: Sets): Promise<void> {
  const started = performance.now();
  const path = await runOnce(workflow(file, sets));
  const seconds = (performance.now() - started) / 1000;
  const info = await probe(path);
  process.stdout.write(
    JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, duration: info.duration, frames: info.frameCount, size: `${info.width}×${info.height}` }),
  );
}

const PROMPTS: Array<[string, keyof typeof TRAINING_BACKGROUNDS]> = [
  ['a white square moving down on a sunset background', 'sunset'],
  ['a red circle moving left on a black background', 'black'],
  ['a green square moving up on a gray background', 'gray'],
  ['a yellow star growing on a navy background', 'navy'],
  ['a blue triangle moving right on a dark green background', 'dark green'],
];

async function adherence(seconds: number): Promise<void> {
  console.log(
    `prompt adherence over ${seconds} s, per 1-second window (seed 42): colour = the analyser's vote; background = distance of each half-frame's median colour from the training background there (grey levels)`,
  );
  for (const [text, background] of PROMPTS) {
    for (const [name, wf] of [
      ['windowed (long-60s)', workflow('long-60s.json', { prompt: { text }, latent: { seconds } })],
      ['pixel extension (before)', pixelExtension(seconds - 2, { prompt: { text } })],
    ] as const) {
      const started = performance.now();
      const video = await decodeVideo(await runOnce(wf));
      const frames = await video.read(0, video.frameCount);
      const w = windowAdherence(frames, video.width, video.height, 8, TRAINING_BACKGROUNDS[background]);
      const colour = text.split(' ')[1];
      const held = w.filter((x) => x.colour === colour).length;
      const later = w.slice(1).map((x) => x.background);
      console.log(
        `  ${text} — ${name}: colour ${held}/${w.length} windows; background first ${w[0]!.background.toFixed(0)}, later median ${[...later].sort((a, b) => a - b)[later.length >> 1]!.toFixed(0)}, worst ${Math.max(...later).toFixed(0)} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
  }
}

if (process.argv[2] === 'child') {
  await measureChild(process.argv[3], JSON.parse(process.argv[4]) as Sets);
} else {
  await adherence(60);
  if (process.argv[2] === 'prompt') process.exit(0);
  const measure = (file: string, sets: object) =>
    JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', file, JSON.stringify(sets)], { encoding: 'utf8' })) as {
      seconds: number;
      maxRssMiB: number;
      duration: number;
      frames: number;
      size: string;
    };
  const short = measure('long-60s.json', { latent: { seconds: 4 } });
  const long = measure('long-60s.json', {});
  console.log(`long-60s at 4 s (reference): ${short.seconds.toFixed(1)} s wall, peak RSS ${short.maxRssMiB.toFixed(0)} MiB, ${short.frames} frames`);
  console.log(`long-60s at 60 s:            ${long.seconds.toFixed(1)} s wall, peak RSS ${long.maxRssMiB.toFixed(0)} MiB, ${long.frames} frames, ${long.duration.toFixed(2)} s`);
  console.log(`peak memory 60 s / 4 s: ${(long.maxRssMiB / short.maxRssMiB).toFixed(2)} (target ≤ 1.3)`);
  const hd = measure('text-to-video-1080p.json', { latent: { seconds: 1 } });
  console.log(`text-to-video-1080p, 1 s of video (${hd.frames} frames at ${hd.size}): ${hd.seconds.toFixed(1)} s wall, peak RSS ${hd.maxRssMiB.toFixed(0)} MiB`);
}
