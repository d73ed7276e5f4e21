// Where a long clip's decode memory goes: the resident set of a process that only loads the
// default model and decodes random latents with vae-decode's chunking, three times over, each
// configuration in its own process. A whole-clip decoder (skyloom-tiny 1.x) decodes every chunk
// with its declared context (`latent.decoderContext`, [6, 6]) around it, so a call of a long clip
// holds chunk + 12 latent frames while a clip no longer than the chunk holds only its own; a
// streaming decoder (2.0) holds the chunk and its caches. The RSS rise is the decoder's working
// set, which grows with the latent frames per call, not with the clip's length.
// Run: npx tsx bench/decode-memory.ts [package dir]   (default models/packages/skyloom-tiny)

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../engine/index.js';
import { tensor } from '../models/tensor.js';
import { VideoModel } from '../models/video-model.js';

const isChild = process.argv[2] === 'child';
const dir = (isChild ? process.argv[3] : process.argv[2]) ?? join(packageRoot(), 'models/packages/skyloom-tiny');

async function child(latentFrames: number, chunk: number): Promise<void> {
  const model = await VideoModel.load(dir, { device: 'cpu' });
  const rss = () => process.memoryUsage().rss / 2 ** 20;
  const loaded = rss();
  const shape = model.latentShape(64, 64, model.frameCount(latentFrames));
  const count = shape.reduce((a, b) => a * b, 1);
  const latents = tensor(
    'float32',
    shape,
    Float32Array.from({ length: count }, () => Math.random() * 2 - 1),
  );
  let peak = loaded;
  for (let round = 0; round < 3; round++) for await (const _part of model.decode(latents, { chunkFrames: chunk })) peak = Math.max(peak, rss());
  const context = model.manifest.latent.decoderContext ?? [0, 0];
  process.stdout.write(JSON.stringify({ loaded, peak, perCall: Math.min(latentFrames, chunk + context[0] + context[1]) }));
}

if (isChild) {
  await child(Number(process.argv[4]), Number(process.argv[5]));
} else {
  console.log(`decode of random latents at 64×64, 3 rounds, one process per row (${dir}):`);
  const runs: Array<[string, number, number]> = [
    ['4 s clip (8 latent frames), chunk 8 — the 4 s reference', 8, 8],
    ['60 s clip (120 latent frames), chunk 1', 120, 1],
    ['60 s clip, chunk 4', 120, 4],
    ['60 s clip, chunk 8 (the default)', 120, 8],
  ];
  for (const [name, frames, chunk] of runs) {
    const r = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child', dir, String(frames), String(chunk)], { encoding: 'utf8' })) as {
      loaded: number;
      peak: number;
      perCall: number;
    };
    console.log(
      `  ${name}: at most ${r.perCall} latent frames per call; RSS after load ${r.loaded.toFixed(0)} MiB, peak ${r.peak.toFixed(0)} MiB, rise ${(r.peak - r.loaded).toFixed(0)} MiB`,
    );
  }
}
