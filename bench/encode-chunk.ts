// vae-encode's chunk size on a long clip: encode time and peak memory for chunks of 2, 4, 8 and 16
// latent frames. Each chunk is encoded with the encoder's declared context around it (6 latent
// frames each side for skyloom-tiny), so a chunk of 2 encodes up to 14 latent frames' worth of
// pixels to keep 2. Each size runs in its own process (peaks do not mix); the order of the sizes
// flips every round, because the shared CPU's load drifts. The reference is chunk 2, the old default.
// Run: npx tsx bench/encode-chunk.ts [rounds] [seconds]   (needs models/packages/skyloom-tiny; defaults 3 and 20)

import { execFileSync } from 'node:child_process';
import { VideoModel } from '../models/video-model.js';

const CHUNKS = [2, 4, 8, 16];

async function encodeOnce(chunk: number, seconds: number): Promise<void> {
  const model = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
  const { width, height, fps } = model.manifest.defaults;
  const frames = seconds * fps;
  // A moving gradient: the encoder's cost does not depend on content, but real pixels keep it honest.
  const data = new Uint8Array(frames * width * height * 3);
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const i = ((f * height + y) * width + x) * 3;
        data[i] = (x * 4 + f) & 255;
        data[i + 1] = (y * 4) & 255;
        data[i + 2] = (f * 3) & 255;
      }
  const rssBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  const latents = await model.encode({ frames, width, height, data }, { chunkFrames: chunk });
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ ms, frames, latentFrames: latents.dims[2], maxRssMiB: process.resourceUsage().maxRSS / 1024, loadedRssMiB: rssBefore / 1024 }));
}

if (process.argv[2] === 'child') {
  await encodeOnce(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 20);
  type Run = { ms: number; frames: number; latentFrames: number; maxRssMiB: number; loadedRssMiB: number };
  const results = new Map<number, Run[]>(CHUNKS.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? CHUNKS : [...CHUNKS].reverse();
    for (const chunk of order) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', String(chunk), String(seconds)], { encoding: 'utf8' });
      results.get(chunk)!.push(JSON.parse(out));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ref = median(results.get(2)!.map((x) => x.ms));
  const first = results.get(2)![0]!;
  console.log(`${seconds} s clip (${first.frames} frames, ${first.latentFrames} latent frames), ${rounds} rounds, median encode time and peak RSS:`);
  for (const chunk of CHUNKS) {
    const rs = results.get(chunk)!;
    const ms = median(rs.map((x) => x.ms));
    console.log(
      `chunk ${String(chunk).padStart(2)}: ${(ms / 1000).toFixed(2)} s (rounds ${rs.map((x) => (x.ms / 1000).toFixed(2)).join(' / ')}), ` +
        `×${(ms / ref).toFixed(2)} of chunk 2; peak RSS ${median(rs.map((x) => x.maxRssMiB)).toFixed(0)} MiB (after load ${median(rs.map((x) => x.loadedRssMiB)).toFixed(0)})`,
    );
  }
}
