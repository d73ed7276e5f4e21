// The editor with a big graph in headless Chromium: open time, DOM nodes and pan frame rate for
// 200 nodes, against the 8-node default workflow measured in the same run (the reference).
// Run: npx tsx bench/editor-200.ts   (needs Debian's chromium and a built editor: npm run build:editor)

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

async function open(page: Page, doc: Workflow): Promise<number> {
  const count = doc.nodes.length;
  // A string: this file is type-checked without the DOM library, and bundler helpers must not reach the page.
  return page.evaluate(`(async () => {
    const t0 = performance.now();
    const dt = new DataTransfer();
    dt.items.add(new File([${JSON.stringify(JSON.stringify(doc))}], 'big.json', { type: 'application/json' }));
    document.querySelector('.app').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    while (document.querySelectorAll('[data-testid="node"]').length < ${count}) await new Promise((r) => setTimeout(r, 20));
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

async function measure(page: Page, doc: Workflow | undefined): Promise<{ openMs: number; dom: number; perNode: number; fps: number; fpsZoomedOut: number; zoom: number }> {
  await page.goto(page.url());
  await page.waitForSelector('[data-testid="ws-status"].ok');
  await page.selectOption('[data-testid="new-menu"]', '__empty');
  const def = doc ?? (JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Workflow);
  const openMs = await open(page, def);
  await page.waitForTimeout(500);
  const dom = (await page.evaluate("document.querySelectorAll('*').length")) as number;
  await page.getByTestId('fit').click();
  await page.waitForTimeout(300);
  const fpsZoomedOut = await panFps(page);
  // Zoomed in by the wheel (eight notches at the middle): nearer the size an artist works at.
  const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -120);
  await page.waitForTimeout(400);
  const transform = (await page.evaluate("document.querySelector('.sk-group-layer')?.parentElement?.style.transform ?? ''")) as string;
  const zoom = Number(/scale\(([0-9.]+)\)/.exec(transform)?.[1] ?? NaN);
  const fps = await panFps(page);
  return { openMs, dom, perNode: dom / def.nodes.length, fps, fpsZoomedOut, zoom };
}

const tmp = mkdtempSync(join(tmpdir(), 'skyloom-bench-editor-'));
const server = await serve({
  host: '127.0.0.1',
  port: 0,
  dataDir: join(tmp, 'data'),
  editorDir: join(ROOT, 'editor', 'dist'),
  log: { debug() {}, info() {}, warn() {}, error() {} },
});
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  await page.goto(server.url);
  const rows: Array<[string, Awaited<ReturnType<typeof measure>>]> = [];
  for (let round = 0; round < 2; round++) {
    rows.push(['8 nodes (reference)', await measure(page, undefined)]);
    rows.push(['200 nodes', await measure(page, bigGraph(25))]);
  }
  console.log('| graph | open | DOM elements | per node | pan fps, fit to view | pan fps, zoomed in (zoom) |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, r] of rows) {
    console.log(`| ${name} | ${r.openMs.toFixed(0)} ms | ${r.dom} | ${r.perNode.toFixed(0)} | ${r.fpsZoomedOut.toFixed(1)} | ${r.fps.toFixed(1)} (${r.zoom.toFixed(2)}) |`);
  }
  const ref = rows[2]![1];
  const big = rows[3]![1];
  console.log(`200 / 8 nodes, second round: pan fps at fit ${(big.fpsZoomedOut / ref.fpsZoomedOut).toFixed(2)}, zoomed in ${(big.fps / ref.fps).toFixed(2)}`);
} finally {
  await browser.close();
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}
