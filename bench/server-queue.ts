// Server benchmarks: queue throughput for trivial prompts, and what live previews cost a sampling-like workload.
// References are measured in the same run: the same prompts through a bare Executor, and the same
// workload with no preview client connected.
// Run: npx tsx bench/server-queue.ts

import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { defineNode, Executor, NodeRegistry, type Logger, type Workflow } from '../engine/index.js';
import type { HistoryEntry, PromptResponse, ServerMessage } from '../protocol/index.js';
import { createApp, type AppOptions } from '../server/app.js';
import { nodes as testNodes } from '../tests/fixtures/test-pack.js';

const TRIVIAL = 400;
const STEPS = 40;
const REPEATS = 9;
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A sampler stand-in: CPU work per step (no sleeping, so any CPU the previews take shows) and an 8-frame 96×96 preview each step. */
const sampleNode = defineNode({
  type: 'bench/sample',
  version: 1,
  category: 'bench',
  description: 'CPU-bound steps with previews.',
  flags: { output: true, idempotent: false },
  params: { steps: { kind: 'int', default: STEPS, min: 1, max: 10000 } },
  run: async ({ steps }, ctx) => {
    const w = 96;
    const h = 96;
    const frames = 8;
    const work = new Float32Array(200_000);
    for (let s = 1; s <= (steps as number); s++) {
      for (let k = 0; k < 8; k++) for (let i = 0; i < work.length; i++) work[i] = work[i] * 0.999 + Math.sin(i + s);
      const data = new Uint8Array(w * h * 3 * frames);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + s * 13) & 255;
      ctx.progress(s, steps as number, { format: 'rgb24', width: w, height: h, frameCount: frames, fps: 8, data });
      // A real sampler awaits its ONNX session each step; this await gives the event loop the same chance.
      await new Promise((r) => setImmediate(r));
    }
    ctx.output({ values: { checksum: work[0] } });
  },
});

const registry = () => new NodeRegistry([...testNodes, sampleNode]);
const trivial = (value: number): Workflow => ({
  format: 'skyloom-workflow',
  version: 3,
  nodes: [
    { id: 'n', type: 'test/number', params: { value } },
    { id: 'out', type: 'test/collect', inputs: { value: { node: 'n', output: 'value' } } },
  ],
});
const sampling: Workflow = { format: 'skyloom-workflow', version: 3, nodes: [{ id: 's', type: 'bench/sample', params: { steps: STEPS } }] };

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function start(options: Partial<AppOptions> = {}) {
  const sky = createApp({ dataDir: mkdtempSync(join(tmpdir(), 'skyloom-bench-')), registry: registry(), log: quiet, ...options });
  const http = createServer(sky.app);
  sky.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    sky,
    base,
    async stop() {
      await sky.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

function connect(base: string, clientId: string, preview: string): Promise<{ ws: WebSocket; messages: ServerMessage[]; binary: number[] }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?clientId=${clientId}&preview=${preview}`);
  const messages: ServerMessage[] = [];
  const binary: number[] = [];
  ws.on('message', (d: Buffer, isBinary: boolean) => (isBinary ? binary.push(d.length) : messages.push(JSON.parse(d.toString()) as ServerMessage)));
  return new Promise((r) => ws.once('open', () => r({ ws, messages, binary })));
}

// node:http with keep-alive: the client shares the process (and the 2 cores) with the server, and
// fetch (undici) costs the client about three times as much CPU per request.
const agent = new Agent({ keepAlive: true, maxSockets: 10 });

function post(base: string, body: unknown): Promise<PromptResponse> {
  const u = new URL(`${base}/api/prompt`);
  const bytes = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`POST /api/prompt: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as PromptResponse);
        });
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

async function waitDone(base: string, promptId: string): Promise<HistoryEntry> {
  for (;;) {
    const res = await fetch(`${base}/api/history/${promptId}`);
    if (res.status === 200) {
      const e = (await res.json()) as HistoryEntry;
      if (e.status !== 'queued' && e.status !== 'running') return e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- 1. Queue throughput ----

async function directRate(): Promise<number> {
  const ex = new Executor(registry());
  const t = performance.now();
  for (let i = 0; i < TRIVIAL; i++) await ex.run(trivial((i % 2000) - 1000));
  return TRIVIAL / ((performance.now() - t) / 1000);
}

async function serverRate(): Promise<number> {
  const s = await start();
  const client = await connect(s.base, 'bench', 'none');
  const t = performance.now();
  let next = 0;
  // Ten posters at once, as ten editor tabs would.
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < TRIVIAL) {
        const i = next++;
        await post(s.base, { workflow: trivial((i % 2000) - 1000), clientId: 'bench' });
      }
    }),
  );
  while (client.messages.filter((m) => m.type === 'execution_success').length < TRIVIAL) await new Promise((r) => setTimeout(r, 5));
  const rate = TRIVIAL / ((performance.now() - t) / 1000);
  client.ws.close();
  await s.stop();
  return rate;
}

// ---- 2. Preview cost ----

/** Sampling time (the node's own run time) with the given preview set-up. */
async function samplingMs(preview: 'absent' | 'webp' | 'jpeg', intervalMs?: number): Promise<{ ms: number; previews: number; bytes: number }> {
  const s = await start(intervalMs === undefined ? {} : { previewIntervalMs: intervalMs });
  const client = preview === 'absent' ? undefined : await connect(s.base, 'viewer', preview);
  const { promptId } = await post(s.base, { workflow: sampling, clientId: 'viewer' });
  const entry = await waitDone(s.base, promptId);
  if (entry.status !== 'success') throw new Error(JSON.stringify(entry.error));
  await new Promise((r) => setTimeout(r, 50));
  const out = { ms: entry.timings.nodes.s, previews: client?.binary.length ?? 0, bytes: client?.binary.reduce((a, b) => a + b, 0) ?? 0 };
  client?.ws.close();
  await s.stop();
  return out;
}

const direct: number[] = [];
const served: number[] = [];
for (let r = 0; r < 3; r++) {
  direct.push(await directRate());
  served.push(await serverRate());
}

const runs: Record<string, Array<{ ms: number; previews: number; bytes: number }>> = { absent: [], webp: [], jpeg: [], every: [] };
const variants: Record<string, () => Promise<{ ms: number; previews: number; bytes: number }>> = {
  absent: () => samplingMs('absent'),
  webp: () => samplingMs('webp'),
  jpeg: () => samplingMs('jpeg'),
  every: () => samplingMs('webp', 0),
};
await samplingMs('webp'); // warm-up: JIT, sharp's thread pool
const keys = Object.keys(variants);
for (let r = 0; r < REPEATS; r++) {
  // Interleaved and rotated, so drift in the machine's load (2 shared cores) hits every variant alike.
  for (let k = 0; k < keys.length; k++) {
    const key = keys[(k + r) % keys.length];
    runs[key].push(await variants[key]());
  }
}

const d = median(direct);
const s = median(served);
console.log(`server benchmarks, node ${process.version}, ${new Date().toISOString()}`);
console.log(`queue throughput, ${TRIVIAL} trivial prompts (2 nodes), median of 3`);
console.log(`  reference: bare Executor.run in a loop        ${d.toFixed(0).padStart(7)} prompts/s`);
console.log(`  server: HTTP POST ×10 clients → SQLite → WS   ${s.toFixed(0).padStart(7)} prompts/s   ${(s / d).toFixed(3)}× reference`);
const ref = median(runs.absent.map((x) => x.ms));
const refMin = Math.min(...runs.absent.map((x) => x.ms));
console.log(`preview cost: ${STEPS} CPU-bound steps, an 8-frame 96×96 preview each step; median (and fastest) of ${REPEATS}`);
const row = (name: string, key: string) => {
  const ms = median(runs[key].map((x) => x.ms));
  const min = Math.min(...runs[key].map((x) => x.ms));
  const previews = median(runs[key].map((x) => x.previews));
  const kb = median(runs[key].map((x) => x.bytes)) / 1024;
  console.log(
    `  ${name.padEnd(42)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / ref).toFixed(3)}×  (fastest ${min.toFixed(0)} ms, ${(min / refMin).toFixed(3)}×)  ${String(previews).padStart(3)} previews  ${kb.toFixed(0).padStart(5)} KiB`,
  );
};
row('reference: no preview client connected', 'absent');
row('webp client, default rate (≤ 4/s)', 'webp');
row('jpeg-strip client, default rate (≤ 4/s)', 'jpeg');
row('webp client, no rate limit (every step)', 'every');
