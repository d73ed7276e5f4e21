// The DiT with int8 weights (models/training/quantize_dit.py) against fp32, on the runtime users run:
// per-step time of guided sampling (the two sides alternate over rounds, which goes first flipping
// each round, because the shared CPU's load drifts), the error of one DiT call, and how far the
// sampled latents and decoded frames move. Held-out prompt adherence is evaluate.py's to judge:
//   /tmp/tiny2-venv/bin/python models/training/quantize_dit.py --package models/packages/skyloom-tiny --out /tmp/skyloom-tiny-int8
//   npx tsx bench/dit-int8.ts [fp32 package] [int8 package] [rounds]
//   (defaults: skyloom-tiny, /tmp/skyloom-tiny-int8, 5)

import { gaussianNoise } from '../models/random.js';
import { tensor } from '../models/tensor.js';
import type { Tensor } from '../models/tensor.js';
import { VideoModel } from '../models/video-model.js';

const [fp32Name = 'skyloom-tiny', int8Name = '/tmp/skyloom-tiny-int8', roundsArg = '5'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const PROMPTS = [
  'a red circle moving left on a black background',
  'a green square moving up on a gray background',
  'a blue triangle growing on a dark green background',
  'a white star shrinking on a sunset background',
];
const STEPS = 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function relError(ref: Float32Array, got: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i]! - b[i]!) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

async function sample(model: VideoModel, prompt: string, seed: number): Promise<{ latents: Tensor<'float32'>; msPerStep: number }> {
  const { width, height, frames } = model.manifest.defaults;
  const cond = await model.encodeText([prompt]);
  const uncond = await model.encodeText(['']);
  const stamps: number[] = [performance.now()];
  const latents = await model.denoise({ shape: model.latentShape(width, height, frames), cond, uncond, steps: STEPS, seed, onStep: () => void stamps.push(performance.now()) });
  const per = stamps.slice(1).map((t, i) => t - stamps[i]!);
  return { latents, msPerStep: median(per) };
}

async function decode(model: VideoModel, latents: Tensor<'float32'>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of model.decode(latents, { chunkFrames: 4 })) parts.push(c.data);
  return Buffer.concat(parts);
}

const fp32 = await VideoModel.load(fp32Name, { device: 'cpu' });
const int8 = await VideoModel.load(int8Name, { device: 'cpu' });
console.log(`fp32: ${fp32.pkg.dir}\nint8: ${int8.pkg.dir}\n${rounds} rounds × ${PROMPTS.length} prompts, ${STEPS} guided steps at the default size`);

// One DiT call on the same inputs (a batch of 2, as guidance runs it) at several noise levels.
const { width, height, frames } = fp32.manifest.defaults;
const dims = fp32.latentShape(width, height, frames);
const cond = await fp32.encodeText([PROMPTS[0]!, '']);
const callErrors: number[] = [];
for (const t of [999, 750, 500, 250, 50]) {
  const x = gaussianNoise([2, ...dims.slice(1)], t);
  const feeds = {
    latents: x,
    timestep: tensor('float32', [2], new Float32Array([t, t])),
    text: cond.hidden,
    text_mask: cond.mask,
    cond_latents: tensor('float32', x.dims, new Float32Array(x.data.length)),
    cond_mask: tensor('float32', [2, 1, ...dims.slice(2)], new Float32Array(2 * dims.slice(2).reduce((a, b) => a * b, 1))),
  };
  const a = (await fp32.pkg.run('transformer', feeds))['velocity'] as Tensor<'float32'>;
  const b = (await int8.pkg.run('transformer', feeds))['velocity'] as Tensor<'float32'>;
  callErrors.push(relError(a.data, b.data));
}
console.log(`one DiT call: relative L2 error int8 vs fp32 ${callErrors.map((e) => `${(100 * e).toFixed(2)}%`).join(', ')} (t = 999, 750, 500, 250, 50)`);

const times = { fp32: [] as number[], int8: [] as number[] };
const latentErrors: number[] = [];
const framePsnr: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (const [i, prompt] of PROMPTS.entries()) {
    const seed = 100 * r + i;
    const order = (r + i) % 2 === 0 ? (['fp32', 'int8'] as const) : (['int8', 'fp32'] as const);
    const out: Partial<Record<'fp32' | 'int8', Tensor<'float32'>>> = {};
    for (const side of order) {
      const s = await sample(side === 'fp32' ? fp32 : int8, prompt, seed);
      times[side].push(s.msPerStep);
      out[side] = s.latents;
    }
    latentErrors.push(relError(out.fp32!.data, out.int8!.data));
    // Both decoded with the fp32 package's VAE: the DiT is all that differs.
    framePsnr.push(psnr(await decode(fp32, out.fp32!), await decode(fp32, out.int8!)));
  }
}
const f = median(times.fp32);
const q = median(times.int8);
console.log(`per guided step (batch 2): fp32 ${f.toFixed(1)} ms, int8 ${q.toFixed(1)} ms (median of ${times.fp32.length}); int8/fp32 = ${(q / f).toFixed(2)}`);
console.log(`sampled latents: relative L2 error median ${(100 * median(latentErrors)).toFixed(1)}%, max ${(100 * Math.max(...latentErrors)).toFixed(1)}%`);
console.log(`decoded frames int8 vs fp32: PSNR median ${median(framePsnr).toFixed(1)} dB, min ${Math.min(...framePsnr).toFixed(1)} dB`);
