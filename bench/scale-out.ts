// Scale-out, measured in one run: throughput of short real text-to-video jobs with 1 and with 2
// `skyloom worker` processes on BullMQ, and the queue's own overhead per job (trivial prompts)
// against the embedded SQLite queue.
// Needs Debian's redis-server. Uses models/packages/skyloom-tiny when installed; otherwise the
// tests' tiny random-weight package (same code path, far less arithmetic), and says so.
// Run: npx tsx bench/scale-out.ts [real jobs per configuration, default 8; 40 with the stand-in] [trivial prompts, default 200]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, type Logger, type Workflow } from '../engine/index.js';
import type { HistoryEntry, PromptResponse, SystemInfo } from '../protocol/index.js';
import { listModels } from '../models/package.js';
import { createRegistry } from '../nodes/index.js';
import { serve, type RunningServer } from '../server/serve.js';
import { writeSkyloomPackage } from '../tests/models/fixtures/tiny-packages.js';
import { nodes as testNodes } from '../tests/fixtures/test-pack.js';

const TRIVIAL = Number(process.argv[3] ?? 200);
const root = packageRoot();
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const temp = (p: string) => mkdtempSync(join(tmpdir(), p));

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', temp('skyloom-redis-'), '--appendonly', 'yes', '--save', '']);
  await new Promise<void>((res, reject) => {
    let out = '';
    child.once('error', reject);
    child.stdout!.on('data', (d: Buffer) => (out += d).includes('Ready to accept connections') && res());
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

function startWorker(url: string, dataDir: string, id: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bin/skyloom.ts'),
      'worker',
      '--queue',
      url,
      '--data-dir',
      dataDir,
      '--id',
      id,
      '--device',
      'cpu',
      '--nodes',
      join(root, 'tests/fixtures/test-pack.ts'),
    ],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  return new Promise((res, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d).includes('is taking prompts') && res(child));
    child.once('close', (code) => reject(new Error(`worker exited (${code})`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const closed = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  await closed;
}

async function post(base: string, workflow: Workflow): Promise<string> {
  const r = await fetch(`${base}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow }) });
  if (!r.ok) throw new Error(`POST /api/prompt: ${r.status} ${await r.text()}`);
  return ((await r.json()) as PromptResponse).promptId;
}

async function settle(base: string, ids: string[]): Promise<HistoryEntry[]> {
  const out: HistoryEntry[] = [];
  for (const id of ids) {
    for (;;) {
      const e = (await (await fetch(`${base}/api/history/${id}`)).json()) as HistoryEntry;
      if (!['queued', 'running'].includes(e.status)) {
        if (e.status !== 'success') throw new Error(`prompt ${id} ended ${e.status}: ${JSON.stringify(e.error)}`);
        out.push(e);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return out;
}

/** Posts every prompt at once and waits for all; seconds from the first POST to the last end. */
async function timed(base: string, workflows: Workflow[]): Promise<{ s: number; entries: HistoryEntry[] }> {
  const t = performance.now();
  const ids = await Promise.all(workflows.map((w) => post(base, w)));
  const entries = await settle(base, ids);
  return { s: (performance.now() - t) / 1000, entries };
}

function textToVideo(model: string, i: number): Workflow {
  const wf = JSON.parse(readFileSync(join(root, 'workflows/text-to-video.json'), 'utf8')) as Workflow;
  // One ORT thread per session: two workers on two cores then do not fight over the same cores.
  const sets: Record<string, Record<string, string | number | boolean>> = {
    model: { name: model, threads: 1 },
    sampler: { seed: 1000 + i },
    save: { filename_prefix: `bench-${i}` },
  };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  return wf;
}

const trivial = (i: number): Workflow => ({
  format: 'skyloom-workflow',
  version: 3,
  nodes: [
    { id: 'a', type: 'test/number', params: { value: i % 1000 } },
    { id: 'out', type: 'test/collect', inputs: { value: { node: 'a', output: 'value' } } },
  ],
});

async function withServer<T>(options: { queue?: string }, fn: (s: RunningServer, base: string, dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = temp('skyloom-bench-data-');
  const registry = createRegistry();
  registry.registerAll(testNodes);
  const s = await serve({ host: '127.0.0.1', port: 0, dataDir, registry, log: quiet, ...options });
  try {
    return await fn(s, s.url.replace(/\/$/, ''), dataDir);
  } finally {
    await s.stop();
  }
}

async function waitWorkers(base: string, n: number): Promise<void> {
  for (;;) {
    const s = (await (await fetch(`${base}/api/system`)).json()) as SystemInfo;
    if ((s.workers ?? []).length >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const installed = (await listModels()).some((m) => m.name === 'skyloom-tiny');
let model = 'skyloom-tiny';
const env: Record<string, string> = {};
if (!installed) {
  const dir = temp('skyloom-bench-models-');
  model = 'tiny-bench';
  await writeSkyloomPackage(join(dir, model), { name: model });
  env.SKYLOOM_MODELS = dir;
  process.env.SKYLOOM_MODELS = dir;
}
// The stand-in's jobs take tens of milliseconds: more of them for a stable figure.
const JOBS = Number(process.argv[2] ?? (installed ? 8 : 40));
console.log(
  `model: ${installed ? 'skyloom-tiny (models/packages)' : 'skyloom-tiny is NOT installed; using the tests\' tiny random-weight package "tiny-bench" (real ONNX path, tiny arithmetic)'}`,
);
console.log(
  `machine: ${(await import('node:os')).cpus().length} cores; ${JOBS} default text-to-video jobs per configuration (the workflow's 2 s and 20 steps, distinct seeds), posted at once`,
);

const redis = await startRedis();
try {
  // Real jobs: 1 worker, then 2 workers, each on a fresh server + queue (same Redis, flushed).
  for (const n of [1, 2]) {
    await withServer({ queue: redis.url }, async (_s, base, dataDir) => {
      const workers = await Promise.all(Array.from({ length: n }, (_, k) => startWorker(redis.url, dataDir, `w${k + 1}`, env)));
      try {
        await waitWorkers(base, n);
        // Warm-up: every worker loads the model once (kept loaded afterwards), not timed.
        await timed(
          base,
          Array.from({ length: n * 2 }, (_, i) => textToVideo(model, 900 + i)),
        );
        const { s, entries } = await timed(
          base,
          Array.from({ length: JOBS }, (_, i) => textToVideo(model, i + n * 100)),
        );
        const per = new Map<string, number>();
        for (const e of entries) per.set(e.worker ?? '?', (per.get(e.worker ?? '?') ?? 0) + 1);
        console.log(
          `${n} worker${n > 1 ? 's' : ' '}: ${JOBS} jobs in ${s.toFixed(2)} s → ${(JOBS / s).toFixed(2)} jobs/s, ${((1000 * s) / JOBS).toFixed(0)} ms/job  (spread: ${[...per].map(([w, c]) => `${w}=${c}`).join(' ')})`,
        );
      } finally {
        await Promise.all(workers.map(stopChild));
      }
    });
  }

  // Queue overhead: trivial prompts (a number into an output node), embedded vs BullMQ + 1 worker.
  const embedded = await withServer({}, async (_s, base) => {
    await timed(
      base,
      Array.from({ length: 20 }, (_, i) => trivial(500 + i)),
    );
    return (
      await timed(
        base,
        Array.from({ length: TRIVIAL }, (_, i) => trivial(i)),
      )
    ).s;
  });
  const bull = await withServer({ queue: redis.url }, async (_s, base, dataDir) => {
    const w = await startWorker(redis.url, dataDir, 'w1', env);
    try {
      await waitWorkers(base, 1);
      await timed(
        base,
        Array.from({ length: 20 }, (_, i) => trivial(500 + i)),
      );
      return (
        await timed(
          base,
          Array.from({ length: TRIVIAL }, (_, i) => trivial(i)),
        )
      ).s;
    } finally {
      await stopChild(w);
    }
  });
  const e = (1000 * embedded) / TRIVIAL;
  const b = (1000 * bull) / TRIVIAL;
  console.log(
    `queue overhead, ${TRIVIAL} trivial prompts posted at once: embedded ${e.toFixed(2)} ms/job, BullMQ + 1 worker ${b.toFixed(2)} ms/job → +${(b - e).toFixed(2)} ms/job for the queue engine`,
  );
} finally {
  await stopChild(redis.child);
}
