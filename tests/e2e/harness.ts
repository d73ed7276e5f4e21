// Helpers for the editor's browser tests: a real server in-process (tiny random-weight model) and Debian's chromium.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Logger } from '../../engine/index.js';
import { serve, type RunningServer } from '../../server/serve.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const EDITOR_DIST = join(ROOT, 'editor', 'dist');
export const SCREENSHOTS = join(ROOT, 'tests', 'e2e', 'screenshots');
export const CHROMIUM = process.env.SKYLOOM_CHROMIUM ?? '/usr/bin/chromium';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface Harness {
  server: RunningServer;
  base: string;
  dataDir: string;
  model: string;
  browser: Browser;
  stop(): Promise<void>;
}

/**
 * Starts a server with every built-in node on a free loopback port, serving the built editor,
 * with the tiny random-weight model installed (or the real default model when it is shipped).
 * @throws Error naming what is missing: the built editor or Debian's chromium
 */
export async function startHarness(): Promise<Harness> {
  await ensureEditorBuilt();
  if (!existsSync(CHROMIUM)) throw new Error(`No chromium at ${CHROMIUM}; install Debian's: apt-get install -y chromium`);
  const tmp = mkdtempSync(join(tmpdir(), 'skyloom-e2e-'));
  const models = join(tmp, 'models');
  await writeSkyloomPackage(join(models, 'tiny'), { name: 'tiny' });
  const previous = process.env.SKYLOOM_MODELS;
  process.env.SKYLOOM_MODELS = previous ? `${models}:${previous}` : models;
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir);
  // An operator limit above the default 120 s of video: the queue-panel test needs a prompt that runs long.
  const server = await serve({ host: '127.0.0.1', port: 0, dataDir, editorDir: EDITOR_DIST, log: quiet, previewIntervalMs: 50, limits: { maxVideoSeconds: 900, maxFrames: 7200 } });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const model = existsSync(join(ROOT, 'models', 'packages', 'skyloom-tiny', 'skyloom.json')) ? 'skyloom-tiny' : 'tiny';
  return {
    server,
    base: server.url.replace(/\/$/, ''),
    dataDir,
    model,
    browser,
    async stop() {
      await browser.close().catch(() => {});
      await server.stop();
      if (previous === undefined) delete process.env.SKYLOOM_MODELS;
      else process.env.SKYLOOM_MODELS = previous;
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Builds the editor when editor/dist is missing or older than its sources, so tests never run a stale build. */
async function ensureEditorBuilt(): Promise<void> {
  const index = join(EDITOR_DIST, 'index.html');
  const sources = Math.max(
    newestMtime(join(ROOT, 'editor', 'src')),
    newestMtime(join(ROOT, 'editor', 'index.html')),
    newestMtime(join(ROOT, 'editor', 'vite.config.ts')),
    newestMtime(join(ROOT, 'workflows')),
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'editor', 'vite.config.ts'), logLevel: 'warn' });
}

/** A page at 1280×720 that records console errors and uncaught exceptions. */
export async function openEditor(h: Harness, options: { keepStorage?: BrowserContext } = {}): Promise<{ page: Page; context: BrowserContext; errors: string[] }> {
  const context = options.keepStorage ?? (await h.browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true }));
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${h.base}/`);
  await page.waitForSelector('[data-testid="node"]', { timeout: 20_000 }).catch(() => {});
  // Run events go to connected sockets only: tests queue once the page is connected, as a user would.
  await page.waitForSelector('[data-testid="ws-status"].ok', { timeout: 20_000 });
  return { page, context, errors };
}

export async function shot(page: Page, name: string): Promise<string> {
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** A node on the canvas, by its workflow id. */
export const node = (page: Page, id: string) => page.locator(`[data-testid="node"][data-node-id="${id}"]`);

/** Opens a workflow document as if a .json file were dropped from the desktop. */
export async function openDoc(page: Page, doc: unknown): Promise<void> {
  await page.evaluate((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], 'w.json', { type: 'application/json' }));
    const target = document.querySelector('.app')!;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, JSON.stringify(doc));
}

/** The workflow as the Export button downloads it. */
export async function exportedDoc<T>(page: Page): Promise<T> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-json').click()]);
  return JSON.parse(readFileSync((await download.path())!, 'utf8')) as T;
}

/** The canvas transform as the area plugin sets it on its content layer. */
export async function areaTransform(page: Page): Promise<{ x: number; y: number; k: number }> {
  const text = await page.evaluate(() => document.querySelector<HTMLElement>('.sk-group-layer')!.parentElement!.style.transform);
  const m = /translate\(([-0-9.e]+)px,\s*([-0-9.e]+)px\)\s*scale\(([-0-9.e]+)\)/.exec(text);
  if (!m) throw new Error(`unexpected transform ${text}`);
  return { x: Number(m[1]), y: Number(m[2]), k: Number(m[3]) };
}
