// Peak resident memory of a Wan run by stage: text encoder → release → DiT → release → VAE, against
// the same run with nothing released. Graphs from bench/wan-stage-models.py (~200 MB per stage).
//
//   python3 bench/wan-stage-models.py /tmp/skyloom-wan-stages
//   npx tsx bench/wan-stages.ts /tmp/skyloom-wan-stages
//
// Each configuration runs in its own process; peak = VmHWM of /proc/self/status.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VideoModel } from '../models/video-model.js';

const dir = process.argv[2] ?? '/tmp/skyloom-wan-stages';
const mode = process.argv[3];

function vm(field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(field))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

async function run(staged: boolean): Promise<void> {
  const model = await VideoModel.load(dir, { device: 'cpu', verify: false });
  if (!staged) model.pkg.release = async () => undefined;
  const loaded = vm('VmRSS');
  const cond = await model.encodeText(['a cat walking in a sunlit garden']);
  const uncond = await model.encodeText(['']);
  const afterText = [vm('VmRSS'), vm('VmHWM')];
  const latents = await model.denoise({ shape: model.latentShape(48, 32, 9), cond, uncond, steps: 2, seed: 1, sampler: 'unipc' });
  const afterDit = [vm('VmRSS'), vm('VmHWM')];
  for await (const chunk of model.decode(latents)) void chunk;
  const afterVae = [vm('VmRSS'), vm('VmHWM')];
  process.stdout.write(JSON.stringify({ loaded, peak: vm('VmHWM'), afterText, afterDit, afterVae }) + '\n');
}

if (mode !== undefined) {
  await run(mode === 'staged');
} else {
  const mb = (n: number) => (n / 2 ** 20).toFixed(0);
  const size = (f: string) => statSync(join(dir, f)).size;
  const t5 = size('t5_encoder_fp16.onnx') + size('t5_encoder_fp16.onnx.data');
  const dit = size('dit.onnx') + size('dit.onnx.data');
  const vae = size('vae_decoder.onnx') + size('vae_decoder_init.onnx');
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, { loaded: number; peak: number }> = {};
  for (const m of ['staged', 'unstaged']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, dir, m], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    results[m] = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { loaded: number; peak: number };
  }
  const largest = Math.max(t5, dit, vae);
  const staged = results['staged']!;
  const unstaged = results['unstaged']!;
  console.log(`stage files: text encoder ${mb(t5)} MiB, DiT ${mb(dit)} MiB, VAE ${mb(vae)} MiB (largest ${mb(largest)} MiB)`);
  console.log(`RSS after load (no session open): ${mb(staged.loaded)} MiB`);
  console.log(
    `peak RSS staged:   ${mb(staged.peak)} MiB = load + ${mb(staged.peak - staged.loaded)} MiB (${((staged.peak - staged.loaded) / largest).toFixed(2)}× the largest stage)`,
  );
  console.log(
    `peak RSS unstaged: ${mb(unstaged.peak)} MiB = load + ${mb(unstaged.peak - unstaged.loaded)} MiB (${((unstaged.peak - unstaged.loaded) / largest).toFixed(2)}× the largest stage)`,
  );
  for (const [m, r] of Object.entries(results))
    console.log(
      `${m}: RSS/peak after text ${(r as unknown as { afterText: number[] }).afterText.map(mb).join('/')}, after DiT ${(r as unknown as { afterDit: number[] }).afterDit.map(mb).join('/')}, after VAE ${(r as unknown as { afterVae: number[] }).afterVae.map(mb).join('/')} MiB`,
    );
  console.log(`ratio staged/unstaged growth: ${((staged.peak - staged.loaded) / (unstaged.peak - unstaged.loaded)).toFixed(2)}`);
}
