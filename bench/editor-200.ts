// The editor with a big graph in headless Chromium: open time, DOM nodes and pan frame rate for
// 200 nodes, against the 8-node default workflow measured in the same run (the reference).
// Run: npx tsx bench/editor-200.ts   (needs Debian's chromium and a built editor: npm run build:editor)
// A/B: SKYLOOM_BENCH_COMPARE=<another editor/dist> measures that build too, sides alternating by round
// (the host is shared and its load swings, so only figures from the same run are compared).
// SKYLOOM_BENCH_ROUNDS (default 2) sets the rounds.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { Workflow, WorkflowNode } from '../engine/index.js';
import { serve } from '../server/serve.js';

const ROOT = join(import.meta.dirname, '..');
const CHROMIUM = process.env.SKYLOOM_CHROMIUM ?? '/usr/bin/chromium';
const PAN_MS = 2500;

/** 25 copies of the 8-node text-to-video graph, side by side in a 5 × 5 grid: 200 nodes. */
function bigGraph(copies: number): Workflow {
  const base = JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;
  const nodes: WorkflowNode[] = [];
  const side = Math.ceil(Math.sqrt(copies));
  for (let c = 0; c < copies; c++) {
    const dx = (c % side) * 1500;
    const dy = Math.floor(c / side) * 700;
    for (const n of base.nodes) {
      const inputs = n.inputs ? Object.fromEntries(Object.entries(n.inputs).map(([k, l]) => [k, { node: `${l.node}_${c}`, output: l.output }])) : undefined;
      nodes.push({ ...n, id: `${n.id}_${c}`, ...(inputs ? { inputs } : {}), position: [(n.position?.[0] ?? 0) + dx, (n.position?.[1] ?? 0) + dy] });
    }
  }
  return { format: 'skyloom-workflow', version: 3, title: `${nodes.length} nodes`, nodes };
}

/** Opens a document as a dropped file; done when every node is on the canvas and every link is drawn. */
async function open(page: Page, doc: Workflow): Promise<number> {
  const count = doc.nodes.length;
  const links = doc.nodes.reduce((sum, n) => sum + Object.keys(n.inputs ?? {}).length, 0);
  // A string: this file is type-checked without the DOM library, and bundler helpers must not reach the page.
  return page.evaluate(`(async () => {
    const t0 = performance.now();
    const dt = new DataTransfer();
    dt.items.add(new File([${JSON.stringify(JSON.stringify(doc))}], 'big.json', { type: 'application/json' }));
    document.querySelector('.app').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    while (document.querySelectorAll('[data-testid="node"]').length < ${count} || document.querySelectorAll('[data-testid="connection"] path[d^="M"]').length < ${links}) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now() - t0;
  })()`) as Promise<number>;
}

/** Drags the empty canvas back and forth for PAN_MS and counts the frames the page painted. */
async function panFps(page: Page): Promise<number> {
  const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
  const x = box.x + box.width - 40;
  const y = box.y + box.height - 30;
  // A string, so the bundler's helpers for named functions never reach the page.
  await page.evaluate(`(() => {
    window.__frames = 0;
    window.__counting = true;
    const tick = () => { window.__frames++; if (window.__counting) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  await page.mouse.move(x, y);
  await page.mouse.down();
  const start = Date.now();
  let i = 0;
  while (Date.now() - start < PAN_MS) {
    i++;
    await page.mouse.move(x - 200 + Math.sin(i / 6) * 180, y - 100 + Math.cos(i / 6) * 60);
  }
  await page.mouse.up();
  const elapsed = Date.now() - start;
  const frames = (await page.evaluate('(() => { window.__counting = false; return window.__frames; })()')) as number;
  return (frames * 1000) / elapsed;
}

type Figures = { openMs: number; dom: number; domFit: number; perNode: number; fps: number; fpsZoomedOut: number; zoom: number; fps1: number; zoom1: number };

/** The canvas zoom, read from the transform of the layer that holds the nodes. */
async function zoomOf(page: Page): Promise<number> {
  const transform = (await page.evaluate("document.querySelector('.sk-group-layer')?.parentElement?.style.transform ?? ''")) as string;
  return Number(/scale\(([0-9.]+)\)/.exec(transform)?.[1] ?? NaN);
}

async function measure(page: Page, base: string, doc: Workflow | undefined): Promise<Figures> {
  await page.goto(base);
  await page.waitForSelector('[data-testid="ws-status"].ok');
  await page.selectOption('[data-testid="new-menu"]', '__empty');
  const def = doc ?? (JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Workflow);
  const openMs = await open(page, def);
  await page.waitForTimeout(500);
  const dom = (await page.evaluate("document.querySelectorAll('*').length")) as number;
  await page.getByTestId('fit').click();
  await page.waitForTimeout(300);
  const domFit = (await page.evaluate("document.querySelectorAll('*').length")) as number;
  const fpsZoomedOut = await panFps(page);
  // Zoomed in by the wheel (eight notches at the middle): nearer the size an artist works at.
  const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -120);
  await page.waitForTimeout(400);
  const zoom = await zoomOf(page);
  const fps = await panFps(page);
  // On to natural size, where an artist edits params: every visible node drawn in full.
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 30 && (await zoomOf(page)) < 0.95; i++) {
    await page.mouse.wheel(0, -120);
    await page.waitForTimeout(30);
  }
  await page.waitForTimeout(400);
  const zoom1 = await zoomOf(page);
  const fps1 = await panFps(page);
  return { openMs, dom, domFit, perNode: dom / def.nodes.length, fps, fpsZoomedOut, zoom, fps1, zoom1 };
}

const rounds = Number(process.env.SKYLOOM_BENCH_ROUNDS ?? 2);
const compareDir = process.env.SKYLOOM_BENCH_COMPARE;
const tmp = mkdtempSync(join(tmpdir(), 'skyloom-bench-editor-'));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const sides: Array<{ name: string; server: Awaited<ReturnType<typeof serve>> }> = [
  { name: 'this build', server: await serve({ host: '127.0.0.1', port: 0, dataDir: join(tmp, 'data'), editorDir: join(ROOT, 'editor', 'dist'), log: quiet }) },
];
if (compareDir) sides.push({ name: 'compared build', server: await serve({ host: '127.0.0.1', port: 0, dataDir: join(tmp, 'data-b'), editorDir: compareDir, log: quiet }) });
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  // One untimed pass per build first: the first open in a fresh browser pays for compiling the bundle.
  for (const side of sides) await measure(page, side.server.url, bigGraph(25));
  const rows: Array<{ side: string; graph: string; round: number; r: Figures }> = [];
  // Rows are printed as they come, so a run cut short still leaves its figures.
  console.log('| build | round | graph | open | DOM elements (per node) | DOM at fit | pan fps, fit | pan fps, zoomed in (zoom) | pan fps, near natural size (zoom) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      for (const [graph, doc] of [['8 nodes (reference)', undefined] as const, ['200 nodes', bigGraph(25)] as const]) {
        const r = await measure(page, side.server.url, doc);
        rows.push({ side: side.name, graph, round, r });
        console.log(
          `| ${side.name} | ${round + 1} | ${graph} | ${r.openMs.toFixed(0)} ms | ${r.dom} (${r.perNode.toFixed(0)}) | ${r.domFit} | ${r.fpsZoomedOut.toFixed(1)} | ${r.fps.toFixed(1)} (${r.zoom.toFixed(2)}) | ${r.fps1.toFixed(1)} (${r.zoom1.toFixed(2)}) |`,
        );
      }
    }
  }
  for (const side of sides) {
    const mine = rows.filter((x) => x.side === side.name);
    const ratio = (f: (r: Figures) => number) => {
      const big = mine.filter((x) => x.graph === '200 nodes').map((x) => f(x.r));
      const ref = mine.filter((x) => x.graph !== '200 nodes').map((x) => f(x.r));
      return (big.reduce((a, b) => a + b, 0) / ref.reduce((a, b) => a + b, 0)).toFixed(2);
    };
    console.log(
      `${side.name}, 200 / 8 nodes over all rounds: pan fps at fit ${ratio((r) => r.fpsZoomedOut)}, zoomed in ${ratio((r) => r.fps)}, near natural size ${ratio((r) => r.fps1)}`,
    );
  }
} finally {
  await browser.close();
  for (const side of sides) await side.server.stop();
  rmSync(tmp, { recursive: true, force: true });
}
