// vae-decode's chunk size on a 60-second clip: decode time and peak memory for chunks of 2, 4, 8
// and 16 latent frames. Each chunk is decoded with the decoder's context around it (6 latent
// frames each side for skyloom-tiny), so small chunks decode the same frames many times over.
// Each size runs in its own process (peaks do not mix); the order of the sizes flips every round,
// because the shared CPU's load drifts. The reference is chunk 2, the old default.
// Run: npx tsx bench/decode-chunk.ts [rounds] [seconds]   (needs models/packages/skyloom-tiny; defaults 3 and 60)

import { execFileSync } from 'node:child_process';
import { gaussianNoise } from '../models/random.js';
import { VideoModel } from '../models/video-model.js';

const CHUNKS = [2, 4, 8, 16];

async function decodeOnce(chunk: number, seconds: number): Promise<void> {
  const model = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
  const { width, height, fps } = model.manifest.defaults;
  const latents = gaussianNoise(model.latentShape(width, height, seconds * fps), 1);
  const rssBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  let frames = 0;
  // The frames are dropped as they come, as vae-decode streams them to disk.
  for await (const part of model.decode(latents, { chunkFrames: chunk })) frames += part.frames;
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ ms, frames, maxRssMiB: process.resourceUsage().maxRSS / 1024, loadedRssMiB: rssBefore / 1024 }));
}

if (process.argv[2] === 'child') {
  await decodeOnce(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 60);
  const results = new Map<number, Array<{ ms: number; frames: number; maxRssMiB: number; loadedRssMiB: number }>>(CHUNKS.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? CHUNKS : [...CHUNKS].reverse();
    for (const chunk of order) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', String(chunk), String(seconds)], { encoding: 'utf8' });
      results.get(chunk)!.push(JSON.parse(out));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ref = median(results.get(2)!.map((x) => x.ms));
  console.log(`${seconds} s clip (${results.get(2)![0]!.frames} frames), ${rounds} rounds, median decode time and peak RSS:`);
  for (const chunk of CHUNKS) {
    const rs = results.get(chunk)!;
    const ms = median(rs.map((x) => x.ms));
    console.log(
      `chunk ${String(chunk).padStart(2)}: ${(ms / 1000).toFixed(2)} s (rounds ${rs.map((x) => (x.ms / 1000).toFixed(2)).join(' / ')}), ` +
        `×${(ms / ref).toFixed(2)} of chunk 2; peak RSS ${median(rs.map((x) => x.maxRssMiB)).toFixed(0)} MiB (after load ${median(rs.map((x) => x.loadedRssMiB)).toFixed(0)})`,
    );
  }
}
