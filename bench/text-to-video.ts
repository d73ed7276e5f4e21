// The main job, measured: the default text-to-video workflow split by node, the DiT step in
// onnxruntime-node against PyTorch eager on the same weights, and peak memory of decode + encode
// for 2 s and 20 s of frames (each length in its own process, so peaks do not mix).
// Run: npx tsx bench/text-to-video.ts            (needs models/packages/skyloom-tiny)

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

async function ditStep(): Promise<void> {
  const model = await VideoModel.load(MODEL);
  const { width, height, frames } = model.manifest.defaults;
  const shape = model.latentShape(width, height, frames);
  const cond = await model.encodeText(['a red circle moving left on a black background']);
  const uncond = await model.encodeText(['']);
  const steps = 20;
  // Warm-up, then time a guided run (one DiT call of batch 2 per step).
  await model.denoise({ shape, cond, uncond, guidance: 6, steps: 2, seed: 0 });
  const t = performance.now();
  await model.denoise({ shape, cond, uncond, guidance: 6, steps, seed: 0 });
  const ortMs = (performance.now() - t) / steps;
  const torch = JSON.parse(
    execFileSync('/usr/bin/python3', [join(packageRoot(), 'bench/dit_step_torch.py'), join(model.pkg.dir, 'transformer/model.onnx'), JSON.stringify(shape), String(cond.hidden.dims[1])], {
      encoding: 'utf8',
    }),
  ) as { ms: number; source: string; loaded: number; missing: string[] };
  console.log(`DiT step, batch 2, latent [${shape.join(', ')}]: onnxruntime-node ${ortMs.toFixed(2)} ms, PyTorch eager ${torch.ms.toFixed(2)} ms → ${(torch.ms / ortMs).toFixed(2)}× (target ≥ 1.5×); PyTorch weights from the ${torch.source}: ${torch.loaded} tensors loaded, ${torch.missing.length} left at random init`);
}

const mode = process.argv[2];
if (mode === 'decode-encode') {
  await decodeEncode(Number(process.argv[3]));
} else {
  await nodeTimes();
  await ditStep();
  const peak = (seconds: number) =>
    (JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'decode-encode', String(seconds)], { encoding: 'utf8' })) as { maxRssMiB: number })
      .maxRssMiB;
  const short = peak(2);
  const long = peak(20);
  console.log(`peak RSS of decode + encode: 2 s ${short.toFixed(0)} MiB, 20 s ${long.toFixed(0)} MiB → ratio ${(long / short).toFixed(2)} (target < 1.3)`);
}
