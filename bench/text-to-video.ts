// The main job, measured: the default text-to-video workflow split by node, the DiT step in
// onnxruntime-node against PyTorch eager on the same weights, and peak memory of decode + encode
// for 2 s and 20 s of frames (each length in its own process, so peaks do not mix).
// Run: npx tsx bench/text-to-video.ts [rounds]   (needs models/packages/skyloom-tiny; rounds default 3)
// The PyTorch reference needs Debian's python3-torch, python3-onnx and a real BLAS
// (libopenblas0-openmp): with the reference libblas PyTorch is ~17× slower and the ratio would
// measure that BLAS. bench/dit_step_torch.py --check says which is missing; the bench then prints
// why and skips the ratio instead of printing a meaningless one. The two sides alternate over the
// rounds (which goes first flips each round) because the shared CPU's load drifts.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Executor, packageRoot, type Workflow } from '../engine/index.js';
import { gaussianNoise } from '../models/random.js';
import { VideoModel } from '../models/video-model.js';
import { encodeVideo } from '../media/ffmpeg.js';
import { videoFromChunks } from '../media/frames.js';
import { createRegistry } from '../nodes/index.js';

const MODEL = 'skyloom-tiny';

async function decodeEncode(seconds: number): Promise<void> {
  const model = await VideoModel.load(MODEL);
  const { width, height, fps } = model.manifest.defaults;
  const frames = seconds * fps;
  const latents = gaussianNoise(model.latentShape(width, height, frames), 1);
  const chunks = (async function* () {
    for await (const c of model.decode(latents, { chunkFrames: 2 })) yield c.data;
  })();
  const video = await videoFromChunks(chunks, { width, height, fps }, { memoryLimitBytes: 0 });
  await encodeVideo(video, join(mkdtempSync(join(tmpdir(), 'skyloom-bench-')), 'out.mp4'), { format: 'mp4' });
  process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function nodeTimes(): Promise<void> {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows/text-to-video.json'), 'utf8')) as Workflow;
  const times: Record<string, number> = {};
  const started = performance.now();
  await new Executor(createRegistry(), { outputDir: mkdtempSync(join(tmpdir(), 'skyloom-bench-')) }).run(wf, {
    onEvent: (e) => {
      if (e.type === 'executed') times[e.data.nodeId] = e.data.ms;
    },
  });
  const total = performance.now() - started;
  const sampler = wf.nodes.find((n) => n.id === 'sampler')!.params!;
  console.log(`default text-to-video job (2 s, 64×64, ${sampler.steps} steps, guidance ${sampler.guidance}), model load included: ${(total / 1000).toFixed(2)} s (target < 15 s)`);
  for (const [id, ms] of Object.entries(times)) console.log(`  ${id.padEnd(10)} ${(ms / 1000).toFixed(3)} s`);
}

interface TorchCheck {
  torch?: string;
  onnx?: string;
  blas: string[];
  realBlas: boolean;
  problems: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function ditStep(rounds: number): Promise<void> {
  const model = await VideoModel.load(MODEL);
  const { width, height, frames } = model.manifest.defaults;
  const shape = model.latentShape(width, height, frames);
  const cond = await model.encodeText(['a red circle moving left on a black background']);
  const uncond = await model.encodeText(['']);
  const steps = 20;
  const script = join(packageRoot(), 'bench/dit_step_torch.py');
  let check: TorchCheck;
  try {
    check = JSON.parse(execFileSync('/usr/bin/python3', [script, '--check'], { encoding: 'utf8' })) as TorchCheck;
  } catch (error) {
    check = { blas: [], realBlas: false, problems: [`/usr/bin/python3 ${script} --check failed: ${(error as Error).message.split('\n')[0]}`] };
  }
  // Warm-up, then time a guided run (one DiT call of batch 2 per step).
  await model.denoise({ shape, cond, uncond, guidance: 6, steps: 2, seed: 0 });
  const ort = async (): Promise<number> => {
    const t = performance.now();
    await model.denoise({ shape, cond, uncond, guidance: 6, steps, seed: 0 });
    return (performance.now() - t) / steps;
  };
  // Without a passive wait policy, PyTorch's OpenMP threads spin and stall each other on a shared
  // CPU: measured here, a PyTorch DiT step took ~2 s against ~0.05 s for onnxruntime-node (37×).
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
  const torch = () =>
    JSON.parse(
      execFileSync('/usr/bin/python3', [script, join(model.pkg.dir, 'transformer/model.onnx'), JSON.stringify(shape), String(cond.hidden.dims[1])], { encoding: 'utf8', env }),
    ) as {
      ms: number;
      patch: number;
      parameters: number;
    };
  const label = `DiT step, batch 2, latent [${shape.join(', ')}]`;
  if (check.problems.length > 0) {
    const ortMs = [];
    for (let r = 0; r < rounds; r++) ortMs.push(await ort());
    console.log(`${label}: onnxruntime-node ${median(ortMs).toFixed(2)} ms (median of ${rounds}); no PyTorch reference, so no ratio:`);
    for (const p of check.problems) console.log(`  - ${p}`);
    return;
  }
  const ortMs: number[] = [];
  const torchMs: number[] = [];
  let last: ReturnType<typeof torch> | undefined;
  for (let r = 0; r < rounds; r++) {
    // Which side goes first flips every round, so drift in the machine's load hits both alike.
    if (r % 2 === 0) ortMs.push(await ort());
    last = torch();
    torchMs.push(last.ms);
    if (r % 2 === 1) ortMs.push(await ort());
  }
  const o = median(ortMs);
  const p = median(torchMs);
  console.log(
    `${label}: onnxruntime-node ${o.toFixed(2)} ms, PyTorch ${check.torch} eager ${p.toFixed(2)} ms → ${(p / o).toFixed(2)}× (medians of ${rounds} alternating rounds; target ≥ 1.5×)`,
  );
  console.log(`  rounds: onnxruntime-node ${ortMs.map((x) => x.toFixed(2)).join(' / ')} ms; PyTorch ${torchMs.map((x) => x.toFixed(2)).join(' / ')} ms`);
  console.log(
    `  PyTorch BLAS: ${check.blas.join(', ') || 'MKL (static)'}, OMP_WAIT_POLICY=${env.OMP_WAIT_POLICY}; the package's weights (dit_from_package.py), patch ${last!.patch}, ${last!.parameters.toLocaleString('en')} parameters`,
  );
}

const mode = process.argv[2];
if (mode === 'decode-encode') {
  await decodeEncode(Number(process.argv[3]));
} else {
  const rounds = Number(process.argv[2] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/text-to-video.ts: rounds must be a positive integer, got ${JSON.stringify(process.argv[2])}`);
  await nodeTimes();
  await ditStep(rounds);
  const peak = (seconds: number) =>
    (JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'decode-encode', String(seconds)], { encoding: 'utf8' })) as { maxRssMiB: number })
      .maxRssMiB;
  const short = peak(2);
  const long = peak(20);
  console.log(`peak RSS of decode + encode: 2 s ${short.toFixed(0)} MiB, 20 s ${long.toFixed(0)} MiB → ratio ${(long / short).toFixed(2)} (target < 1.3)`);
}
