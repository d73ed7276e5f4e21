// The minimap's cost while panning a 200-node graph in headless Chromium: pan frame rate with the
// minimap shown against the same graph with it hidden, sides alternated over rounds in one page.
// Run: npx tsx bench/editor-minimap.ts   (needs Debian's chromium and a built editor: npm run build:editor)

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { Workflow, WorkflowNode } from '../engine/index.js';
import { serve } from '../server/serve.js';

const ROOT = join(import.meta.dirname, '..');
const CHROMIUM = process.env.SKYLOOM_CHROMIUM ?? '/usr/bin/chromium';
const PAN_MS = 2500;
const ROUNDS = 4;

/** 25 copies of the 8-node text-to-video graph in a 5 × 5 grid (as bench/editor-200.ts). */
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

async function open(page: Page, doc: Workflow): Promise<void> {
  // A string: this file is type-checked without the DOM library.
  await page.evaluate(`(async () => {
    const dt = new DataTransfer();
    dt.items.add(new File([${JSON.stringify(JSON.stringify(doc))}], 'big.json', { type: 'application/json' }));
    document.querySelector('.app').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    while (document.querySelectorAll('[data-testid="node"]').length < ${doc.nodes.length}) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  })()`);
}

/** Drags the empty canvas in circles for PAN_MS and counts the frames the page painted, and what changed on the minimap meanwhile. */
async function panFps(page: Page): Promise<{ fps: number; frameUpdates: number; rectUpdates: number; frames: number }> {
  const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
  const x = box.x + box.width - 40;
  const y = box.y + 40;
  await page.evaluate(`(() => {
    window.__frames = 0;
    window.__counting = true;
    window.__mm = { frame: 0, rects: 0 };
    const map = document.querySelector('[data-testid="minimap-map"]');
    window.__observer = new MutationObserver((records) => {
      const frames = new Set();
      for (const r of records) {
        if (r.target.getAttribute && r.target.getAttribute('data-testid') === 'minimap-viewport') frames.add(r.target);
        else if (r.target.getAttribute && r.target.getAttribute('data-testid') === 'minimap-node') window.__mm.rects++;
        else if (r.type === 'childList') window.__mm.rects++;
      }
      window.__mm.frame += frames.size;
    });
    if (map) window.__observer.observe(map, { attributes: true, childList: true, subtree: true });
    const tick = () => { window.__frames++; if (window.__counting) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  await page.mouse.move(x, y);
  await page.mouse.down();
  const start = Date.now();
  let i = 0;
  while (Date.now() - start < PAN_MS) {
    i++;
    await page.mouse.move(x - 200 + Math.sin(i / 6) * 180, y + 100 + Math.cos(i / 6) * 60);
  }
  await page.mouse.up();
  const elapsed = Date.now() - start;
  const seen = (await page.evaluate('(() => { window.__counting = false; window.__observer.disconnect(); return { frames: window.__frames, ...window.__mm }; })()')) as {
    frames: number;
    frame: number;
    rects: number;
  };
  return { fps: (seen.frames * 1000) / elapsed, frameUpdates: seen.frame, rectUpdates: seen.rects, frames: seen.frames };
}

async function setMinimap(page: Page, shown: boolean): Promise<void> {
  if ((await page.getByTestId('minimap').count()) > 0 !== shown) await page.getByTestId('minimap-toggle').click();
  await page.waitForTimeout(300);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const tmp = mkdtempSync(join(tmpdir(), 'skyloom-bench-minimap-'));
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
  await page.waitForSelector('[data-testid="ws-status"].ok');
  await open(page, bigGraph(25));
  await page.waitForTimeout(500);
  const rows: Array<{ view: string; shown: number[]; hidden: number[]; updates: string[] }> = [];
  for (const view of ['fit', 'zoomed in']) {
    if (view === 'fit') await page.getByTestId('fit').click();
    else {
      const box = (await page.locator('[data-testid="canvas"]').boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -120);
    }
    await page.waitForTimeout(400);
    const row = { view, shown: [] as number[], hidden: [] as number[], updates: [] as string[] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so a load swing on the host hits both alike.
      for (const shown of round % 2 === 0 ? [true, false] : [false, true]) {
        await setMinimap(page, shown);
        const r = await panFps(page);
        (shown ? row.shown : row.hidden).push(r.fps);
        // Per mutation batch (one per task at most), the view's frame changes once; node rectangles not at all.
        if (shown) row.updates.push(`${r.frameUpdates} / ${r.frames}, ${r.rectUpdates}`);
      }
    }
    rows.push(row);
  }
  console.log(
    '| 200 nodes, pan | minimap shown (fps, each round) | hidden (fps, each round) | shown / hidden, medians | shown: view-frame updates / painted frames, rectangle changes |',
  );
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
    console.log(`| ${r.view} | ${f(r.shown)} | ${f(r.hidden)} | ${(median(r.shown) / median(r.hidden)).toFixed(2)} | ${r.updates.join('; ')} |`);
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
}
