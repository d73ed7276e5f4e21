// Long and large video: wall time and peak memory of the long-60s workflow at 4 s and at 60 s
// (each in its own process, so peaks do not mix; the 4 s run is the reference), and of the
// 1080p workflow per second of video; and text-to-video itself (`generate --seconds S`, sampled
// window by window in latent space, models/windowed.ts) at 4 s and 60 s.
// Run: npx tsx bench/long-video.ts            (needs models/packages/skyloom-tiny)
//      npx tsx bench/long-video.ts windowed   (only the text-to-video part)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { probe } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';

async function runOnce(file: string, sets: Record<string, Record<string, number | string>>): Promise<void> {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', file), 'utf8')) as Workflow;
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  const started = performance.now();
  const result = await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-bench-')), inputDir: packageRoot() }).run(wf);
  const seconds = (performance.now() - started) / 1000;
  const info = await probe(Object.values(result.outputs)[0].files![0].path);
  process.stdout.write(
    JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, duration: info.duration, frames: info.frameCount, size: `${info.width}×${info.height}` }),
  );
}

if (process.argv[2] === 'child') {
  await runOnce(process.argv[3], JSON.parse(process.argv[4]) as Record<string, Record<string, number | string>>);
} else {
  const measure = (file: string, sets: object) =>
    JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', file, JSON.stringify(sets)], { encoding: 'utf8' })) as {
      seconds: number;
      maxRssMiB: number;
      duration: number;
      frames: number;
      size: string;
    };
  const t4 = measure('text-to-video.json', { latent: { seconds: 4 } });
  const t60 = measure('text-to-video.json', { latent: { seconds: 60 } });
  console.log(`text-to-video at 4 s (reference): ${t4.seconds.toFixed(1)} s wall, peak RSS ${t4.maxRssMiB.toFixed(0)} MiB, ${t4.frames} frames`);
  console.log(`text-to-video at 60 s:            ${t60.seconds.toFixed(1)} s wall, peak RSS ${t60.maxRssMiB.toFixed(0)} MiB, ${t60.frames} frames`);
  console.log(`peak memory 60 s / 4 s: ${(t60.maxRssMiB / t4.maxRssMiB).toFixed(2)} (target ≤ 1.3)`);
  if (process.argv[2] === 'windowed') process.exit(0);
  const short = measure('long-60s.json', { extend: { seconds: 2 } });
  const long = measure('long-60s.json', {});
  console.log(`long-60s at 4 s (reference): ${short.seconds.toFixed(1)} s wall, peak RSS ${short.maxRssMiB.toFixed(0)} MiB, ${short.frames} frames`);
  console.log(`long-60s at 60 s:            ${long.seconds.toFixed(1)} s wall, peak RSS ${long.maxRssMiB.toFixed(0)} MiB, ${long.frames} frames, ${long.duration.toFixed(2)} s`);
  console.log(`peak memory 60 s / 4 s: ${(long.maxRssMiB / short.maxRssMiB).toFixed(2)} (target ≤ 1.3)`);
  const hd = measure('text-to-video-1080p.json', { latent: { seconds: 1 } });
  console.log(`text-to-video-1080p, 1 s of video (${hd.frames} frames at ${hd.size}): ${hd.seconds.toFixed(1)} s wall, peak RSS ${hd.maxRssMiB.toFixed(0)} MiB`);
}
