// Upscaling cost: ms per 1080p output frame for ESRGAN (tiled, ONNX Runtime CPU) then Lanczos to the exact size,
// against sharp's Lanczos alone (the reference, measured in the same run).
// Run: npx tsx bench/upscale.ts [frames=2] [model@WxH,...]   e.g. npx tsx bench/upscale.ts 2 esrgan-slim-4x@480x270
//
// Recorded 2026-11-25, 2 vCPUs shared with a training job (load average ~5.5, so ±30% between runs), node 20, ORT 1.30 CPU:
//   sharp Lanczos only, 480x270 → 1080p (reference)                     99.5 ms/frame    1.0×
//   esrgan-slim-4x (tile 150) 480x270 → 1920x1080 + Lanczos → 1080p    4301 ms/frame    43×   (3384 ms in an earlier run)
//   sharp Lanczos only, 960x540 → 1080p (reference)                    130.8 ms/frame    1.0×
//   esrgan-slim-2x (tile 398) 960x540 → 1920x1080 + Lanczos → 1080p   11049 ms/frame    84×   (8615 ms earlier)
//   esrgan-medium-2x (tile 150) 960x540 → 1920x1080 + Lanczos → 1080p 31759 ms/frame   263×
//   peak RSS 1160 MiB (all three models loaded in one process)

import { mkdtempSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randn } from '../models/random.js';
import { SessionCache } from '../models/session-cache.js';
import { Upscaler } from '../models/upscale/esrgan.js';
import { resizeImage, type RgbImage } from '../media/image.js';

const FRAMES = Number(process.argv[2] ?? 2);
const CONFIGS = (process.argv[3] ?? 'esrgan-slim-4x@480x270,esrgan-slim-2x@960x540,esrgan-medium-2x@960x540').split(',').map((c) => {
  const [model, size] = c.split('@');
  const [width, height] = size.split('x').map(Number);
  return { model, width, height };
});
const TARGET = { width: 1920, height: 1080 };
// 0: the upscaler's own choice (Upscaler.autoTile); pass TILE=<px> in the environment to try another.
const TILE = Number(process.env.TILE ?? 0);

/** A frame with smooth regions and edges (a gradient, noise-textured, with a bright rectangle), like a decoded video frame. */
function frame(width: number, height: number, seed: number): RgbImage {
  const noise = randn(seed, width * height * 3);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        const box = x > width / 3 && x < width / 2 && y > height / 4 && y < height / 2;
        data[i] = Math.min(255, Math.max(0, (box ? 220 : (255 * (x + c * y)) / (width + height)) + 6 * noise[i]));
      }
  return { width, height, data };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const sessions = new SessionCache({ budgetBytes: 2 * 1024 ** 3 });
const cacheDir = process.env.SKYLOOM_CACHE_DIR ? undefined : mkdtempSync(join(tmpdir(), 'skyloom-bench-upscale-'));

console.log(`upscale to ${TARGET.width}x${TARGET.height}, median of ${FRAMES} frames per row, CPU (${os.availableParallelism()} threads), node ${process.version}`);
const rows: Array<[string, number, number]> = [];
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
for (const { model, width, height } of CONFIGS) {
  const upscaler = await Upscaler.load(model, { device: 'cpu', sessions, ...(cacheDir ? { cacheDir } : {}) });
  const frames = Array.from({ length: FRAMES }, (_, i) => frame(width, height, i + 1));
  // Warm-up: session creation, ORT's first-run allocations and libvips' start are not per-frame costs.
  await upscaler.upscaleFrames(frame(64, 64, 99).data, 64, 64, { tile: TILE });
  await resizeImage(frames[0], TARGET.width, TARGET.height, 'crop');

  const reference: number[] = [];
  for (const f of frames) {
    const t = performance.now();
    await resizeImage(f, TARGET.width, TARGET.height, 'crop');
    reference.push(performance.now() - t);
  }
  const model_: number[] = [];
  for (const f of frames) {
    const t = performance.now();
    const up = await upscaler.upscaleFrames(f.data, width, height, { tile: TILE });
    const out = await resizeImage({ width: width * upscaler.scale, height: height * upscaler.scale, data: up }, TARGET.width, TARGET.height, 'crop');
    model_.push(performance.now() - t);
    if (out.data.length !== TARGET.width * TARGET.height * 3) throw new Error('wrong output size');
  }
  const ref = median(reference);
  const ms = median(model_);
  rows.push([`sharp Lanczos only, ${width}x${height} → 1080p (reference)`, ref, 1]);
  const tile = TILE || upscaler.autoTile();
  rows.push([`${model} (tile ${tile}) ${width}x${height} → ${width * upscaler.scale}x${height * upscaler.scale} + Lanczos → 1080p`, ms, ms / ref]);
}
clearInterval(sampler);
for (const [name, ms, ratio] of rows) console.log(`${name.padEnd(84)} ${ms.toFixed(1).padStart(9)} ms/frame  ${ratio.toFixed(1).padStart(7)}× reference`);
console.log(`peak RSS of the process: ${(peakRss / 1024 ** 2).toFixed(0)} MiB`);
