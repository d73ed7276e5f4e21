// The results gallery in headless Chromium against a real server: items and URLs, live updates, load workflow, delete, lazy videos.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry, HistoryList, PromptResponse } from '../../protocol/index.js';
import { openEditor, ROOT, shot, startHarness, type Harness, node, openDoc } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

const RED = 'a red circle moving left on a black background';
const BLUE = 'a blue square moving right on a white background';

async function history(query = 'limit=1000'): Promise<HistoryList> {
  return (await (await fetch(`${h.base}/api/history?${query}`)).json()) as HistoryList;
}
const items = (page: Page) => page.getByTestId('gallery-item');
const item = (page: Page, promptId: string) => page.locator(`[data-testid="gallery-item"][data-prompt-id="${promptId}"]`);
const urlOf = (entry: HistoryEntry) => Object.values(entry.outputs).flatMap((ui) => ui.files ?? [])[0]!.url!;

function template(name: string): { title?: string; nodes: Array<{ id: string; params?: Record<string, unknown> }> } {
  return JSON.parse(readFileSync(join(ROOT, 'workflows', name), 'utf8'));
}

/** Queues from the toolbar and waits until the history holds `count` finished prompts. */
async function queueAndWait(page: Page, count: number): Promise<void> {
  await page.getByTestId('queue').click();
  await expect.poll(async () => (await history()).items.filter((e) => e.status === 'success').length, { timeout: 120_000, interval: 300 }).toBe(count);
}

describe('the results gallery', () => {
  it('shows two runs with their output URLs, updates live on a re-queue, loads a workflow back, filters, and deletes an entry', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = template('text-to-video.json');
    doc.title = 'Gallery colours';
    doc.nodes.find((n) => n.id === 'model')!.params!.name = h.model;
    doc.nodes.find((n) => n.id === 'prompt')!.params!.text = RED;
    await openDoc(page, doc);
    await expect.poll(() => node(page, 'prompt').locator('textarea').inputValue()).toBe(RED);
    await queueAndWait(page, 1);
    const field = node(page, 'prompt').locator('textarea');
    await field.fill(BLUE);
    await field.press('Tab');
    await queueAndWait(page, 2);
    const [blue, red] = (await history()).items;

    // The shortcut opens it (focus off the fields first).
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('g');
    await expect.poll(() => items(page).count()).toBe(2);
    expect(await items(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-prompt-id')))).toEqual([blue!.promptId, red!.promptId]);
    for (const entry of [blue!, red!]) {
      const card = item(page, entry.promptId);
      expect(urlOf(entry)).toMatch(/^\/api\/outputs\/.+\.mp4$/);
      await expect.poll(() => card.getByTestId('gallery-media').getAttribute('src')).toBe(urlOf(entry));
      expect(await card.getByTestId('gallery-download').getAttribute('href')).toBe(urlOf(entry));
      expect(await card.getByTestId('gallery-status').textContent()).toBe('success');
      expect(await card.getByTestId('gallery-title').textContent()).toBe('Gallery colours');
      // The clip's own length and size, read from the file once it loaded.
      await expect.poll(() => card.getByTestId('gallery-details').textContent()).toMatch(/\d+\.\d s clip · \d+×\d+ · [\d.]+ K?B$/);
    }
    const played = await item(page, red!.promptId)
      .getByTestId('gallery-media')
      .evaluate(async (v: HTMLVideoElement) => {
        v.dispatchEvent(new MouseEvent('mouseenter'));
        await new Promise((r) => setTimeout(r, 400));
        return !v.paused;
      });
    expect(played).toBe(true);
    await shot(page, 'g01-gallery-two-runs');

    // Open large, then Escape closes only the player.
    await item(page, red!.promptId).getByTestId('gallery-open').click();
    expect(await page.getByTestId('gallery-player').getAttribute('src')).toBe(urlOf(red!));
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('gallery-viewer').count()).toBe(0);
    expect(await page.getByTestId('gallery').count()).toBe(1);

    // Filters: by text (the prompt), by media kind.
    await page.getByTestId('gallery-search').fill('blue square');
    await expect.poll(() => items(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-prompt-id')))).toEqual([blue!.promptId]);
    await page.getByTestId('gallery-search').fill('');
    await page.getByTestId('gallery-kind-image').click();
    await expect.poll(() => page.getByTestId('gallery-empty').count()).toBe(1);
    expect(await items(page).count()).toBe(0);
    await page.getByTestId('gallery-kind-all').click();
    await page.getByTestId('gallery-status-failed').click();
    await expect.poll(() => page.getByTestId('gallery-empty').count()).toBe(1);
    await page.getByTestId('gallery-status-all').click();
    await expect.poll(() => items(page).count()).toBe(2);

    // Re-queue the red one: the gallery is open and a third item arrives when it finishes.
    await item(page, red!.promptId).getByTestId('gallery-requeue').click();
    await expect.poll(() => items(page).count(), { timeout: 120_000 }).toBe(3);
    const again = (await history()).items[0]!;
    expect(await items(page).first().getAttribute('data-prompt-id')).toBe(again.promptId);
    const againDoc = (await (await fetch(`${h.base}/api/history/${again.promptId}`)).json()) as HistoryEntry;
    expect((againDoc.workflow as { nodes: Array<{ id: string; params?: { text?: string } }> }).nodes.find((n) => n.id === 'prompt')!.params!.text).toBe(RED);

    // Delete it with its file: gone from the grid, from the server's history and from disk.
    const againFile = join(h.dataDir, 'output', ...Object.values(again.outputs)[0]!.files![0]!.filename.split('/'));
    expect(existsSync(againFile)).toBe(true);
    await item(page, again.promptId).getByTestId('gallery-delete').click();
    await item(page, again.promptId).getByTestId('gallery-delete-files').check();
    await item(page, again.promptId).getByTestId('gallery-delete-confirm').click();
    await expect.poll(() => item(page, again.promptId).count()).toBe(0);
    expect(await items(page).count()).toBe(2);
    expect((await fetch(`${h.base}/api/history/${again.promptId}`)).status).toBe(404);
    expect((await history()).items.map((e) => e.promptId)).toEqual([blue!.promptId, red!.promptId]);
    expect(existsSync(againFile)).toBe(false);
    // Deleted without its file: the record goes, the file stays.
    await item(page, blue!.promptId).getByTestId('gallery-delete').click();
    await item(page, blue!.promptId).getByTestId('gallery-delete-confirm').click();
    await expect.poll(() => items(page).count()).toBe(1);
    expect((await history()).items.map((e) => e.promptId)).toEqual([red!.promptId]);
    expect((await fetch(`${h.base}${urlOf(blue!)}`)).status).toBe(200);

    // A prompt another client queued fails at run time: it arrives live, with its error, under Failed.
    const clip = template('video-to-video.json').nodes.find((n) => n.id === 'video')!.params;
    const broken = {
      format: 'skyloom-workflow',
      version: 2,
      title: 'Past the end',
      nodes: [
        { id: 'video', type: 'load-video', params: clip },
        { id: 'frame', type: 'save-image', params: { frame: 99999 }, inputs: { video: { node: 'video', output: 'video' } } },
      ],
    };
    const res = await fetch(`${h.base}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: broken }) });
    const failed = ((await res.json()) as PromptResponse).promptId;
    await expect.poll(() => item(page, failed).getAttribute('data-status'), { timeout: 60_000 }).toBe('error');
    expect(await item(page, failed).locator('.nothing').textContent()).toContain('outside the video');
    expect(await item(page, failed).getByTestId('gallery-title').textContent()).toBe('Past the end');
    await page.getByTestId('gallery-status-failed').click();
    await expect.poll(() => items(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-prompt-id')))).toEqual([failed]);
    await page.getByTestId('gallery-status-success').click();
    await expect.poll(() => items(page).evaluateAll((els) => els.map((e) => e.getAttribute('data-prompt-id')))).toEqual([red!.promptId]);
    await shot(page, 'g02-gallery-succeeded-filter');

    // Load workflow: the graph now says blue; the red run's graph comes back.
    expect(await node(page, 'prompt').locator('textarea').inputValue()).toBe(BLUE);
    await item(page, red!.promptId).getByTestId('gallery-load').click();
    await expect.poll(() => page.getByTestId('gallery').count()).toBe(0);
    await expect.poll(() => node(page, 'prompt').locator('textarea').inputValue()).toBe(RED);
    expect(await page.locator('[data-testid="node"]').count()).toBe(doc.nodes.length);
    expect(await page.getByTestId('workflow-title').inputValue()).toBe('Gallery colours');
    await shot(page, 'g04-workflow-loaded-from-gallery');
    expect(errors).toEqual([]);

    // An output file removed from the disk behind the server's back: the card says so, offers no player.
    rmSync(join(h.dataDir, 'output', ...Object.values(red!.outputs)[0]!.files![0]!.filename.split('/')));
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('g');
    await expect.poll(() => item(page, red!.promptId).getByTestId('gallery-gone').count()).toBe(1);
    expect(await item(page, red!.promptId).getByTestId('gallery-media').count()).toBe(0);
    expect(await item(page, red!.promptId).getByTestId('gallery-open').count()).toBe(0);
    expect(await item(page, red!.promptId).getByTestId('gallery-load').count()).toBe(1);
    await context.close();
  }, 400_000);

  it('requests a video only once its card scrolls into view, and loads older pages as the grid scrolls', async () => {
    const doc = template('video-to-video.json');
    const load = doc.nodes.find((n) => n.id === 'video')!;
    const save = doc.nodes.find((n) => n.id === 'save')!;
    // One fast prompt: the sample clip read and written again.
    const quick = {
      format: 'skyloom-workflow',
      version: 2,
      title: 'Lazy',
      nodes: [
        { id: 'video', type: 'load-video', params: load.params },
        { id: 'save', type: 'save-video', params: { ...save.params, filename_prefix: 'lazy' }, inputs: { video: { node: 'video', output: 'video' } } },
      ],
    };
    const before = (await history()).total;
    const queued: string[] = [];
    for (let i = 0; i < 26; i++) {
      const res = await fetch(`${h.base}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow: quick }) });
      expect(res.status).toBe(200);
      queued.push(((await res.json()) as PromptResponse).promptId);
    }
    await expect
      .poll(async () => (await history()).items.filter((e) => queued.includes(e.promptId) && e.status === 'success').length, { timeout: 300_000, interval: 500 })
      .toBe(26);
    const all = (await history()).items;
    expect(all.length).toBe(before + 26);

    const first = await openEditor(h);
    const { context, errors } = first;
    let page = first.page;
    const requested = new Set<string>();
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/api/outputs/')) requested.add(path);
    });
    await page.getByTestId('open-gallery').click();
    // One page of 24 first; its visible cards load their videos, the rest wait.
    await expect.poll(() => items(page).count()).toBe(24);
    await expect.poll(() => requested.size).toBeGreaterThan(0);
    await page.waitForTimeout(1000);
    const inView = await page.getByTestId('gallery-grid').evaluate((grid) => {
      const box = grid.getBoundingClientRect();
      return [...grid.querySelectorAll('[data-testid="gallery-item"] video')].map((v) => {
        const r = v.getBoundingClientRect();
        return { src: v.getAttribute('src'), visible: r.bottom > box.top && r.top < box.bottom };
      });
    });
    const visible = inView.filter((v) => v.visible).length;
    expect(visible).toBeGreaterThan(0);
    expect(visible).toBeLessThan(24);
    expect(requested.size).toBe(visible);
    for (const v of inView) expect(v.src !== null, JSON.stringify(v)).toBe(v.visible);
    const newest = all.slice(0, 24).map(urlOf);
    expect([...requested].every((u) => newest.slice(0, visible).map(decodeURI).includes(decodeURI(u)))).toBe(true);
    await shot(page, 'g03-gallery-lazy');

    // Scrolled to the end: the older page arrives, and the oldest clip is requested only now.
    const oldest = urlOf(all.filter((e) => queued.includes(e.promptId)).at(-1)!);
    expect(requested.has(oldest)).toBe(false);
    await expect
      .poll(
        async () => {
          await page.getByTestId('gallery-grid').evaluate((g) => g.scrollTo(0, g.scrollHeight));
          return items(page).count();
        },
        { timeout: 20_000 },
      )
      .toBe(all.length);
    await expect.poll(() => requested.has(oldest)).toBe(true);
    expect(await page.getByTestId('gallery-count').textContent()).toBe(`${all.length} of ${all.length}`);
    expect(await page.getByTestId('gallery-more').count()).toBe(0);

    expect(errors).toEqual([]);
    await context.close();

    // The queue panel's history list (its last 30 prompts) holds to the same rule; a new browser
    // context, so that no clip comes from the cache of the one above.
    const second = await openEditor(h);
    page = second.page;
    requested.clear();
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/api/outputs/')) requested.add(path);
    });
    await page.getByTestId('toggle-run-panel').click();
    await expect.poll(() => page.getByTestId('history-entry').count()).toBe(Math.min(30, all.length));
    await expect.poll(() => requested.size).toBeGreaterThan(0);
    await page.waitForTimeout(1000);
    const panel = await page.locator('[data-testid="run-panel"] .history').evaluate((list) => {
      const box = list.getBoundingClientRect();
      return [...list.querySelectorAll('video')].map((v) => {
        const r = v.getBoundingClientRect();
        return { src: v.getAttribute('src'), visible: r.bottom > box.top && r.top < box.bottom };
      });
    });
    const shown = panel.filter((v) => v.visible).length;
    expect(shown).toBeLessThan(panel.length);
    expect(requested.size).toBe(shown);
    for (const v of panel) expect(v.src !== null, JSON.stringify(v)).toBe(v.visible);
    expect(second.errors).toEqual([]);
    await second.context.close();
  }, 420_000);
});
