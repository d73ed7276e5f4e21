// Event-loop lag while the server makes a 30-s default clip, with ONNX sessions on the worker thread
// against on the main thread (SKYLOOM_ORT_THREAD=0, the reference), measured in the same run.
// Each side runs in its own process: a real server on a port runs `skyloom generate --seconds 30`'s
// workflow (text-to-video.json, 20 steps) while perf_hooks.monitorEventLoopDelay samples the main
// thread and a client in the same process polls GET /api/queue every 25 ms. Sides alternate over
// the rounds. Last, what crossing to the worker costs one DiT call of that clip.
// Run: npx tsx bench/event-loop-lag.ts [rounds=3]        (needs models/packages/skyloom-tiny)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { packageRoot, type Logger, type ParamValue, type Workflow } from '../engine/index.js';
import { probe } from '../media/ffmpeg.js';
import { createRegistry } from '../nodes/index.js';
import type { HistoryEntry, PromptResponse } from '../protocol/index.js';
import { createSession, releaseSession, runSession, type OnnxSession } from '../models/runtime/onnx.js';
import { tensor, type Tensor } from '../models/tensor.js';
import { VideoModel } from '../models/video-model.js';
import { serve } from '../server/serve.js';

const SECONDS = 30;
const POLL_MS = 25;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

interface Side {
  offThread: boolean;
  wallS: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  queueP50Ms: number;
  queueP99Ms: number;
  queueMaxMs: number;
  queueRequests: number;
  frames: number;
}

/**
 * GET over a fresh connection each time: a reused keep-alive socket can be closed by the server
 * just as a stalled loop wakes up and sends on it (ECONNRESET), which would end the measurement.
 */
function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

async function child(): Promise<Side> {
  const wf = JSON.parse(readFileSync(join(packageRoot(), 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;
  const sets: Record<string, Record<string, ParamValue>> = { latent: { seconds: SECONDS } };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  const dataDir = mkdtempSync(join(tmpdir(), 'skyloom-lag-'));
  const server = await serve({ host: '127.0.0.1', port: 0, dataDir, registry: createRegistry(), log: quiet });
  const base = server.url.replace(/\/$/, '');
  try {
    const lag = monitorEventLoopDelay({ resolution: 10 });
    const started = performance.now();
    lag.enable();
    const { promptId } = (await (
      await fetch(`${base}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: wf }) })
    ).json()) as PromptResponse;
    const queueMs: number[] = [];
    let entry: HistoryEntry;
    for (let i = 0; ; i++) {
      const t0 = performance.now();
      await getJson(`${base}/api/queue`);
      queueMs.push(performance.now() - t0);
      // Paced, not back to back: the same request rate on both sides, so the poller's own CPU does not skew the wall time.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (i % 10 === 0) {
        const h = (await getJson(`${base}/api/history/${promptId}`)) as HistoryEntry;
        if (h.status !== 'queued' && h.status !== 'running') {
          entry = h;
          break;
        }
      }
    }
    lag.disable();
    if (entry.status !== 'success') throw new Error(`the clip failed: ${JSON.stringify(entry.error)}`);
    const sorted = [...queueMs].sort((a, b) => a - b);
    const { frameCount: frames } = await probe(join(dataDir, 'output', entry.outputs?.['save']?.files?.[0]?.filename ?? ''));
    return {
      offThread: process.env['SKYLOOM_ORT_THREAD'] !== '0',
      wallS: (performance.now() - started) / 1000,
      lagP50Ms: lag.percentile(50) / 1e6,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      queueP50Ms: percentile(sorted, 0.5),
      queueP99Ms: percentile(sorted, 0.99),
      queueMaxMs: sorted.at(-1) ?? NaN,
      queueRequests: sorted.length,
      frames,
    };
  } finally {
    await server.stop();
  }
}

function measure(offThread: boolean): Side {
  const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'child'], {
    encoding: 'utf8',
    env: { ...process.env, SKYLOOM_ORT_THREAD: offThread ? '1' : '0' },
  });
  return JSON.parse(out) as Side;
}

/**
 * What the crossing costs: one guided DiT call of the 30-s clip (batch 2, latent [2, 8, 60, 8, 8]),
 * median of `calls`, on a session of each placement, alternating, in this process.
 */
async function perCall(calls: number): Promise<{ mainMs: number; workerMs: number }> {
  const model = await VideoModel.load('skyloom-tiny', { device: 'cpu', verify: false });
  const [, channels = 8, frames = 1, h = 1, w = 1] = model.latentShape(64, 64, SECONDS * 8);
  const { hidden, mask } = await model.encodeText(['a red circle moving left', '']);
  const path = model.pkg.componentPath('transformer');
  const names = model.manifest.components.transformer.inputs;
  const n = 2 * channels * frames * h * w;
  const latent = tensor(
    'float32',
    [2, channels, frames, h, w],
    Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
  );
  const feeds: Record<string, Tensor> = {
    [names['latents']!]: latent,
    [names['timestep']!]: tensor('float32', [2], Float32Array.of(500, 500)),
    [names['text']!]: hidden,
    [names['text_mask']!]: mask,
  };
  if (names['cond_latents']) feeds[names['cond_latents']] = tensor('float32', latent.dims, new Float32Array(n));
  if (names['cond_mask']) feeds[names['cond_mask']] = tensor('float32', [2, 1, frames, h, w], new Float32Array(n / channels));
  const open = async (offThread: boolean): Promise<OnnxSession> => {
    process.env['SKYLOOM_ORT_THREAD'] = offThread ? '1' : '0';
    return createSession(path, { device: 'cpu' });
  };
  const sessions = { main: await open(false), worker: await open(true) };
  const times: Record<'main' | 'worker', number[]> = { main: [], worker: [] };
  for (let i = 0; i < calls + 2; i++) {
    for (const side of i % 2 === 0 ? (['main', 'worker'] as const) : (['worker', 'main'] as const)) {
      const t0 = performance.now();
      await runSession(sessions[side], feeds);
      if (i >= 2) times[side].push(performance.now() - t0); // the first two warm the arenas
    }
  }
  await releaseSession(sessions.main);
  await releaseSession(sessions.worker);
  return { mainMs: median(times.main), workerMs: median(times.worker) };
}

if (process.argv[2] === 'child') {
  process.stdout.write(JSON.stringify(await child()));
} else if (process.argv[2] === 'per-call') {
  process.stdout.write(JSON.stringify(await perCall(Number(process.argv[3]))));
} else {
  const rounds = Number(process.argv[2] ?? 3);
  console.log(
    `${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the start`,
  );
  const sides: Record<'main' | 'worker', Side[]> = { main: [], worker: [] };
  const row = (s: Side) =>
    `lag p50 ${s.lagP50Ms.toFixed(1)} p99 ${s.lagP99Ms.toFixed(1)} max ${s.lagMaxMs.toFixed(1)} ms · GET /api/queue p50 ${s.queueP50Ms.toFixed(1)} p99 ${s.queueP99Ms.toFixed(1)} max ${s.queueMaxMs.toFixed(1)} ms (${s.queueRequests} requests) · ${s.frames} frames in ${s.wallS.toFixed(1)} s`;
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first, so drift in the host's load falls on both.
    for (const offThread of r % 2 === 0 ? [false, true] : [true, false]) {
      const s = measure(offThread);
      sides[offThread ? 'worker' : 'main'].push(s);
      console.log(`round ${r + 1} ${offThread ? 'worker thread' : 'main thread  '}: ${row(s)}`);
    }
  }
  const med = (side: Side[], k: keyof Side) => median(side.map((s) => s[k] as number));
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the end`,
  );
  console.log(`\nmedians over ${rounds} rounds (main thread = SKYLOOM_ORT_THREAD=0 is the reference):`);
  for (const k of ['lagP99Ms', 'lagMaxMs', 'queueP50Ms', 'queueP99Ms', 'queueMaxMs', 'wallS'] as const) {
    const m = med(sides.main, k);
    const w = med(sides.worker, k);
    console.log(`  ${k.padEnd(11)} main ${m.toFixed(1).padStart(7)}  worker ${w.toFixed(1).padStart(7)}  worker/main ${(w / m).toFixed(3)}`);
  }
  const call = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, 'per-call', '30'], { encoding: 'utf8' })) as {
    mainMs: number;
    workerMs: number;
  };
  console.log(
    `\none guided DiT call of the 30-s clip, median of 30: main thread ${call.mainMs.toFixed(1)} ms, worker thread ${call.workerMs.toFixed(1)} ms (worker/main ${(call.workerMs / call.mainMs).toFixed(3)})`,
  );
}
