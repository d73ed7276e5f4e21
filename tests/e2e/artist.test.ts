// The everyday moves of an artist in headless Chromium: live errors, partial runs, node modes, reroutes, file positions, honest widgets.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryList } from '../../protocol/index.js';
import { openEditor, ROOT, shot, startHarness, type Harness, node, openDoc, exportedDoc } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

const problemsOf = (page: Page, id: string) => node(page, id).locator('[data-testid="node-problems"] li.error');

async function history(): Promise<HistoryList['items']> {
  return ((await (await fetch(`${h.base}/api/history?limit=100`)).json()) as HistoryList).items;
}

/** Waits for the prompt queued after `before` entries to finish; returns its entry. */
async function finished(page: Page, before: number): Promise<HistoryList['items'][number]> {
  // The history lists finished prompts: it grows once this one is done.
  await expect.poll(async () => (await history()).length, { timeout: 120_000, interval: 500 }).toBeGreaterThan(before);
  const deadline = Date.now() + 120_000;
  let entry = (await history())[0]!;
  while ((entry.status === 'queued' || entry.status === 'running') && Date.now() < deadline) {
    await page.waitForTimeout(300);
    entry = (await history())[0]!;
  }
  return entry;
}

function template(
  name: string,
): { nodes: Array<{ id: string; type: string; params?: Record<string, unknown>; inputs?: Record<string, unknown>; position?: [number, number] }> } & Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, 'workflows', name), 'utf8'));
}

async function select(page: Page, id: string): Promise<void> {
  await node(page, id)
    .locator('header')
    .click({ position: { x: 40, y: 8 } });
}

describe('live validation', () => {
  it('shows an error as soon as an edit makes it and clears it when the edit is undone, without queueing', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'text-to-video.json');
    await expect.poll(() => problemsOf(page, 'save').count()).toBe(0);
    const before = (await history()).length;
    await select(page, 'decode');
    await page.keyboard.press('Delete');
    await expect.poll(() => problemsOf(page, 'save').allTextContents()).toEqual(['Required input "video" (VIDEO) is not connected']);
    expect(await page.getByTestId('issues-banner').textContent()).toContain('1 problem');
    await shot(page, 'a01-live-error');
    await page.keyboard.press('Control+z');
    await expect.poll(() => node(page, 'decode').count()).toBe(1);
    await expect.poll(() => problemsOf(page, 'save').count()).toBe(0);
    expect(await page.getByTestId('issues-banner').count()).toBe(0);
    expect((await history()).length).toBe(before);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});

describe('partial runs', () => {
  it('runs the outputs while a loose node with a problem is only a warning, and runs one output alone, in a batch with seeds incremented', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = template('text-to-video.json');
    doc.nodes.find((n) => n.id === 'model')!.params!.name = h.model;
    // A pasted encoder that feeds nothing and misses its model: a warning, not a blocker.
    doc.nodes.push({ id: 'loose', type: 'text-encode', params: { text: 'spare' }, position: [0, 700] });
    await openDoc(page, doc);
    await expect
      .poll(() => node(page, 'loose').locator('[data-testid="node-problems"] li.warning').allTextContents())
      .toContain('Node "loose" feeds no output node, so it does not run');
    expect(await node(page, 'loose').getAttribute('class')).toContain('unused');
    expect(await page.getByTestId('issues-banner').count()).toBe(0);
    await shot(page, 'a02-loose-node-warning');
    let before = (await history()).length;
    await page.getByTestId('queue').click();
    const entry = await finished(page, before);
    expect(entry.status).toBe('success');
    expect(entry.executed).not.toContain('loose');
    expect(entry.executed).toContain('save');

    // "Run this output" with a batch of 2: two prompts, the second with the seed one higher.
    await page.getByTestId('batch-count').fill('2');
    before = (await history()).length;
    await node(page, 'save').getByTestId('run-output').click();
    await expect.poll(async () => (await history()).length, { timeout: 120_000, interval: 500 }).toBe(before + 2);
    type Doc = { nodes: Array<{ id: string; params?: { seed?: number } }> };
    const docs = await Promise.all((await history()).slice(0, 2).map(async (e) => (await (await fetch(`${h.base}/api/history/${e.promptId}`)).json()).workflow as Doc));
    expect(docs.map((d) => d.nodes.find((n) => n.id === 'sampler')!.params!.seed).sort()).toEqual([42, 43]);
    expect(docs[0]!.nodes.map((n) => n.id)).not.toContain('loose');
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);
});

describe('node modes and reroutes', () => {
  it('bypass changes the output (a resize passes its video through) and survives save and load', async () => {
    const { probe } = await import('../../media/ffmpeg.js');
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = template('text-to-video.json');
    doc.nodes.find((n) => n.id === 'model')!.params!.name = h.model;
    doc.nodes.push({
      id: 'resize',
      type: 'resize',
      params: { preset: 'custom', width: 48, height: 32, fit: 'stretch' },
      inputs: { video: { node: 'decode', output: 'video' } },
      position: [1100, 0],
    });
    doc.nodes.find((n) => n.id === 'save')!.inputs = { video: { node: 'resize', output: 'video' } };
    doc.nodes.find((n) => n.id === 'save')!.position = [1400, 0];
    await openDoc(page, doc);
    await expect.poll(() => node(page, 'resize').count()).toBe(1);

    const size = async () => {
      const before = (await history()).length;
      await page.getByTestId('queue').click();
      const entry = await finished(page, before);
      expect(entry.error?.message ?? null).toBeNull();
      const file = Object.values(entry.outputs).flatMap((o) => o.files ?? [])[0]!;
      const p = await probe(join(h.dataDir, 'output', file.filename));
      return [p.width, p.height];
    };
    expect(await size()).toEqual([48, 32]);

    await select(page, 'resize');
    await page.keyboard.press('Control+b');
    await expect.poll(() => node(page, 'resize').getAttribute('data-mode')).toBe('bypass');
    expect(await node(page, 'resize').getByTestId('node-mode').textContent()).toBe('bypassed');
    await shot(page, 'a03-bypassed-resize');
    const native = await size();
    expect(native).not.toEqual([48, 32]);
    expect(native[0]).toBe(native[1]); // the model's native 1:1 clip, passed through

    const saved = await exported(page);
    expect(saved.version).toBe(3);
    expect(saved.nodes.find((n) => n.id === 'resize')!.mode).toBe('bypass');
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await openDoc(page, saved);
    await expect.poll(() => node(page, 'resize').getAttribute('data-mode')).toBe('bypass');
    expect(await size()).toEqual(native);
    // Ctrl+B again takes it off.
    await select(page, 'resize');
    await page.keyboard.press('Control+b');
    await expect.poll(() => node(page, 'resize').getAttribute('data-mode')).toBe('run');
    expect(errors).toEqual([]);
    await context.close();
  }, 240_000);

  it('a reroute point on a link and a muted node survive save and load', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'text-to-video.json');
    await page.getByTestId('fit').click();
    // Right-click the sampler → decode link at its middle, then "Add reroute point".
    const path = page.locator('[data-testid="connection"][data-link="sampler.latent->decode.latent"] path');
    const mid = await path.evaluate((p: SVGPathElement) => {
      const pt = p.getPointAtLength(p.getTotalLength() / 2);
      const m = p.getScreenCTM()!;
      return { x: pt.x * m.a + pt.y * m.c + m.e, y: pt.x * m.b + pt.y * m.d + m.f };
    });
    await page.mouse.click(mid.x, mid.y, { button: 'right' });
    await page.getByText('Add reroute point').click();
    await expect.poll(() => page.locator('[data-testid="node"][data-node-type="reroute"]').count()).toBe(1);
    await select(page, 'prompt');
    await page.keyboard.press('Control+m');
    await expect.poll(() => node(page, 'prompt').getAttribute('data-mode')).toBe('mute');
    // The muted prompt feeds the encoder the sampler needs: that is an error, shown at once.
    await expect.poll(() => problemsOf(page, 'positive').allTextContents()).toEqual([expect.stringContaining('"prompt", which is muted')]);
    await shot(page, 'a04-reroute-and-mute');

    const saved = await exported(page);
    const reroute = saved.nodes.find((n) => n.type === 'reroute')!;
    expect(reroute.inputs!.in).toEqual({ node: 'sampler', output: 'latent' });
    expect(saved.nodes.find((n) => n.id === 'decode')!.inputs!.latent).toEqual({ node: reroute.id, output: 'out' });
    expect(saved.nodes.find((n) => n.id === 'prompt')!.mode).toBe('mute');
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await openDoc(page, saved);
    await expect.poll(() => page.locator('[data-testid="node"][data-node-type="reroute"]').count()).toBe(1);
    expect(await node(page, 'prompt').getAttribute('data-mode')).toBe('mute');
    // Links into and out of the point are drawn.
    await expect.poll(() => page.locator(`[data-testid="connection"][data-link*="${reroute.id}"]`).count()).toBe(2);

    // Unmuted, it runs through the reroute point.
    await select(page, 'prompt');
    await page.keyboard.press('Control+m');
    await setModel(page);
    const before = (await history()).length;
    await page.getByTestId('queue').click();
    const entry = await finished(page, before);
    expect(entry.status).toBe('success');
    expect(entry.executed).toContain(reroute.id);
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);
});

async function setModel(page: Page): Promise<void> {
  const field = node(page, 'model').locator('[data-param="name"] input');
  await field.fill(h.model);
  await field.press('Tab');
}

describe('opening a file', () => {
  it('keeps its positions, overlaps included, and marks nothing changed', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = template('text-to-video.json');
    // Two nodes on top of each other, and one far away: exactly as the artist left them.
    doc.nodes.find((n) => n.id === 'negative')!.position = [310, 170];
    doc.nodes.find((n) => n.id === 'save')!.position = [3000, -400];
    await openDoc(page, doc);
    await page.waitForTimeout(600);
    const saved = await exported(page);
    for (const n of doc.nodes) expect(saved.nodes.find((s) => s.id === n.id)!.position, n.id).toEqual(n.position);
    expect(await page.getByTestId('dirty').count()).toBe(0);
    await shot(page, 'a05-positions-kept');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});

describe('honest widgets', () => {
  it('shows a typed out-of-range value as an error instead of changing it, disables preset-driven sizes, and shows a 16-digit seed whole', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'text-to-video.json');
    const steps = node(page, 'sampler').locator('[data-param="steps"]');
    await steps.locator('input').fill('999');
    await steps.locator('input').press('Tab');
    expect(await steps.locator('input').inputValue()).toBe('999');
    await expect.poll(() => steps.getAttribute('class')).toContain('bad');
    await expect.poll(() => problemsOf(page, 'sampler').allTextContents()).toContain('Param "steps" is 999, outside the range 1 to 200');
    await expect.poll(() => page.getByTestId('issues-banner').count()).toBe(1);

    // Width and height are the preset's under 1:1; typed under "custom", 50 is off the 16-pixel grid.
    const width = node(page, 'latent').locator('[data-param="width"]');
    expect(await width.getAttribute('class')).toContain('unused');
    await node(page, 'latent').locator('[data-param="aspect"] select').selectOption('custom');
    await expect.poll(() => width.getAttribute('class')).not.toContain('unused');
    await width.locator('input').fill('50');
    await width.locator('input').press('Tab');
    await expect.poll(() => problemsOf(page, 'latent').allTextContents()).toContain('Param "width" is 50, not on its steps of 16 from 16 (try 48 or 64)');

    const seed = node(page, 'sampler').locator('[data-param="seed"] input');
    await seed.fill('1234567890123456');
    await seed.press('Tab');
    expect(await seed.inputValue()).toBe('1234567890123456');
    expect(await seed.evaluate((el: HTMLInputElement) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await shot(page, 'a06-honest-widgets');

    // Fixed, the errors go without a queue.
    await steps.locator('input').fill('20');
    await steps.locator('input').press('Tab');
    await width.locator('input').fill('48');
    await width.locator('input').press('Tab');
    await expect.poll(() => problemsOf(page, 'sampler').count()).toBe(0);
    await expect.poll(() => problemsOf(page, 'latent').count()).toBe(0);
    expect(await node(page, 'sampler').locator('header .title').textContent()).toBe('DiT Sampler');
    expect(await node(page, 'negative').locator('header .title').textContent()).toBe('Negative prompt');
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});

describe('serving the page', () => {
  it('fetches each catalog once at start, and gets the compressed, immutable build', async () => {
    const context = await h.browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    const counts = new Map<string, number>();
    const assets: Array<{ url: string; encoding?: string; cache?: string }> = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/api/')) counts.set(path, (counts.get(path) ?? 0) + 1);
    });
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/assets/') && r.url().endsWith('.js')) {
        const headers = r.headers();
        assets.push({ url: r.url(), encoding: headers['content-encoding'], cache: headers['cache-control'] });
      }
    });
    await page.goto(`${h.base}/`);
    await page.waitForSelector('[data-testid="ws-status"].ok');
    await page.waitForTimeout(1500);
    for (const path of ['/api/nodes', '/api/models', '/api/system', '/api/queue', '/api/history']) expect(counts.get(path) ?? 0, path).toBeLessThanOrEqual(1);
    expect(counts.get('/api/nodes')).toBe(1);
    expect(assets.length).toBeGreaterThan(0);
    expect(assets[0]).toMatchObject({ encoding: 'br', cache: 'public, max-age=31536000, immutable' });
    await context.close();
  }, 60_000);
});

type ExportedDoc = {
  version: number;
  nodes: Array<{ id: string; type: string; mode?: string; inputs?: Record<string, { node: string; output: string }>; position?: [number, number] }>;
};
const exported = (page: Page) => exportedDoc<ExportedDoc>(page);
