// Admission: /api/queue latency while in-range-but-huge prompts (4096², 7,200 frames, 200 steps) are posted and refused, against /api/queue alone in the same run.
// Run: npx tsx bench/admission.ts

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Workflow } from '../engine/index.js';
import { createRegistry } from '../nodes/index.js';
import { serve } from '../server/serve.js';

const ROUNDS = 200;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const base = JSON.parse(readFileSync(join(import.meta.dirname, '../workflows/text-to-video.json'), 'utf8')) as Workflow;
const huge: Workflow = {
  ...base,
  nodes: base.nodes.map((n) =>
    n.id === 'latent'
      ? { ...n, params: { ...n.params, aspect: 'custom', width: 4096, height: 4096, frames: 7200, fps: 60 } }
      : n.id === 'sampler'
        ? { ...n, params: { ...n.params, steps: 200 } }
        : n,
  ),
};

function quantiles(ms: number[]): { p50: number; p99: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]! };
}

async function timeQueue(url: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`${url}/api/queue`);
  await r.arrayBuffer();
  return performance.now() - t;
}

const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'skyloom-bench-'));
const server = await serve({ host: '127.0.0.1', port: 0, dataDir: dir, registry: createRegistry(), log: quiet });
const url = server.url.replace(/\/$/, '');
try {
  for (let i = 0; i < 20; i++) await timeQueue(url);
  const alone: number[] = [];
  for (let i = 0; i < ROUNDS; i++) alone.push(await timeQueue(url));

  const refusals: number[] = [];
  const during: number[] = [];
  let stop = false;
  const poster = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await fetch(`${url}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: huge }) });
      await r.arrayBuffer();
      if (r.status !== 422) throw new Error(`expected 422, got ${r.status}`);
      refusals.push(performance.now() - t);
    }
  })();
  for (let i = 0; i < ROUNDS; i++) during.push(await timeQueue(url));
  stop = true;
  await poster;

  const a = quantiles(alone);
  const d = quantiles(during);
  const r = quantiles(refusals);
  console.log(`/api/queue alone:            p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms (${ROUNDS} requests)`);
  console.log(`/api/queue during refusals:  p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms (ratio p99 ${(d.p99 / a.p99).toFixed(2)}×)`);
  console.log(`huge prompt refused (422):   p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${refusals.length} refusals)`);
} finally {
  await server.stop();
}
