// One Wan DiT step and one streaming-VAE step on random-weight Wan-shaped graphs: onnxruntime-node
// (through models/runtime/onnx.ts) against Python onnxruntime on the same files, alternating sides.
// Run: npx tsx bench/wan-step.ts [rounds] [dit blocks]
//   Needs python3 with pip onnx, onnxruntime and numpy (SKYLOOM_PYTHON picks another interpreter);
//   graphs are built once into bench/.work/ by bench/wan_step_graphs.py. SKYLOOM_THREADS: intra-op
//   threads on both sides (default 2).

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../engine/index.js';
import { createSession, runSession, releaseSession } from '../models/runtime/onnx.js';
import type { OnnxSession } from '../models/runtime/onnx.js';
import { tensor } from '../models/tensor.js';
import type { Tensor } from '../models/tensor.js';

const rounds = Number(process.argv[2] ?? 4);
const blocks = Number(process.argv[3] ?? 2);
const threads = Number(process.env['SKYLOOM_THREADS'] ?? 2);
const python = process.env['SKYLOOM_PYTHON'] ?? 'python3';
const script = join(packageRoot(), 'bench/wan_step_graphs.py');
const dir = join(packageRoot(), 'bench/.work');

const [CH, F, H, W, TEXT_LEN, TEXT_DIM] = [16, 4, 30, 52, 512, 4096];
const VAE_CACHES: [number, number][] = [
  [16, 1],
  [384, 1],
  [384, 1],
  [192, 2],
  [192, 2],
  [32, 8],
];

// The inputs wan_step_graphs.py feeds: value i = float32(sin(0.37·i + k) · 0.5).
function fill(dims: number[], k: number): Tensor<'float32'> {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(0.37 * i + k) * 0.5;
  return tensor('float32', dims, data);
}

const feeds = {
  dit: {
    latent_input: fill([1, CH, F, H, W], 1),
    timestep: tensor('float32', [1], Float32Array.of(937)),
    text_embeddings: fill([1, TEXT_LEN, TEXT_DIM], 2),
  } as Record<string, Tensor>,
  vae: Object.fromEntries([['latent_frame', fill([1, CH, 1, H, W], 3)], ...VAE_CACHES.map(([c, m], k) => [`c${k}`, fill([1, c, 2, m * H, m * W], 4 + k)])]) as Record<
    string,
    Tensor
  >,
};
const mainOutput = { dit: 'noise_prediction', vae: 'video_frames' } as const;
type Graph = keyof typeof feeds;

async function nodeRun(session: OnnxSession, graph: Graph): Promise<{ ms: number; checksum: number }> {
  const start = performance.now();
  const out = await runSession(session, feeds[graph]);
  const ms = performance.now() - start;
  let checksum = 0;
  for (const v of (out[mainOutput[graph]] as Tensor<'float32'>).data) checksum += Math.abs(v);
  return { ms, checksum };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

console.log(`building graphs (once) with ${python} …`);
execFileSync(python, [script, 'build', dir, String(blocks)], { stdio: 'inherit' });

const sessions = {
  dit: await createSession(join(dir, 'wan-dit.onnx'), { device: 'cpu', intraOpNumThreads: threads }),
  vae: await createSession(join(dir, 'wan-vae-step.onnx'), { device: 'cpu', intraOpNumThreads: threads }),
};
const py = spawn(python, [script, 'serve', dir, String(threads)], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
const next = async (): Promise<Record<string, unknown>> => {
  const line = await lines.next();
  if (line.done) throw new Error('the Python side exited early');
  return JSON.parse(line.value) as Record<string, unknown>;
};
const ready = await next();
const pyRun = async (graph: Graph): Promise<{ ms: number; checksum: number }> => {
  py.stdin.write(`${graph}\n`);
  return (await next()) as { ms: number; checksum: number };
};

console.log(
  `Wan-shaped graphs, latents ${F}×${H}×${W} (${F * (H / 2) * (W / 2)} DiT tokens), DiT ${blocks} blocks of dim 1536; ` +
    `${threads} intra-op threads each side; onnxruntime ${String(ready['onnxruntime'])} (Python); ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
// Warm-up: first runs allocate arenas and pick kernels on both sides.
for (const graph of ['dit', 'vae'] as const) {
  const a = await nodeRun(sessions[graph], graph);
  const b = await pyRun(graph);
  const diff = Math.abs(a.checksum - b.checksum) / Math.max(1e-12, Math.abs(b.checksum));
  console.log(
    `warm-up ${graph}: node ${a.ms.toFixed(0)} ms, python ${b.ms.toFixed(0)} ms; output Σ|y| node ${a.checksum.toFixed(3)} python ${b.checksum.toFixed(3)} (relative difference ${diff.toExponential(1)})`,
  );
}

const times: Record<Graph, { node: number[]; python: number[] }> = { dit: { node: [], python: [] }, vae: { node: [], python: [] } };
for (let r = 0; r < rounds; r++) {
  for (const graph of ['dit', 'vae'] as const) {
    // Alternate which side goes first so a drift in machine load does not favour one side.
    const order = r % 2 === 0 ? (['node', 'python'] as const) : (['python', 'node'] as const);
    for (const side of order) {
      const t = side === 'node' ? await nodeRun(sessions[graph], graph) : await pyRun(graph);
      times[graph][side].push(t.ms);
    }
    console.log(`round ${r + 1} ${graph}: node ${times[graph].node[r].toFixed(0)} ms, python ${times[graph].python[r].toFixed(0)} ms (${order[0]} first)`);
  }
}
py.stdin.write('quit\n');
for (const graph of ['dit', 'vae'] as const) await releaseSession(sessions[graph]);

for (const graph of ['dit', 'vae'] as const) {
  const n = median(times[graph].node);
  const p = median(times[graph].python);
  const label = graph === 'dit' ? 'DiT step' : 'VAE step (1 latent frame → 4 frames)';
  console.log(`${label}: median of ${rounds}: onnxruntime-node ${n.toFixed(0)} ms, Python onnxruntime ${p.toFixed(0)} ms → node/python ${(n / p).toFixed(3)}`);
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
