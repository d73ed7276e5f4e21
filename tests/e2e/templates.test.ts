// Every shipped template, opened from New… and queued unchanged in headless Chromium, runs to success on a real server.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryList } from '../../protocol/index.js';
import { openEditor, ROOT, shot, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

const TEMPLATES = readdirSync(join(ROOT, 'workflows'))
  .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
  .sort();

async function history(): Promise<HistoryList['items']> {
  return ((await (await fetch(`${h.base}/api/history?limit=100`)).json()) as HistoryList).items;
}

describe('shipped templates', () => {
  it('shows the sample image of image-to-video as a thumbnail with its name, and offers the samples in the picker', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'image-to-video.json');
    const widget = page.locator('[data-node-id="image"] [data-testid="file-widget"]');
    await expect.poll(() => widget.locator('img').evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0))).toBe(64);
    expect(await widget.getByTestId('file-name').textContent()).toBe('still.png');
    const options = await widget.getByTestId('file-picker').locator('option').allTextContents();
    expect(options).toContain('still.png');
    expect(options).not.toContain('clip.mp4'); // an image input lists images only
    await page.getByTestId('fit').click();
    await shot(page, 't01-image-to-video-template');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it.each(TEMPLATES)(
    '%s opens with no node overlapping another or the minimap, and its group boxes hold only their members',
    async (file) => {
      const shipped = JSON.parse(readFileSync(join(ROOT, 'workflows', file), 'utf8')) as { nodes: unknown[]; groups?: Array<{ nodes: string[] }> };
      const { page, context, errors } = await openEditor(h);
      page.on('dialog', (d) => void d.accept());
      await page.selectOption('[data-testid="new-menu"]', file);
      await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(shipped.nodes.length);
      await page.getByTestId('fit').click();
      type Box = { id: string; x: number; y: number; w: number; h: number };
      const boxes = async (selector: string, idAttr: string): Promise<Box[]> =>
        page.locator(selector).evaluateAll(
          (els, attr) =>
            els.map((el) => {
              const r = el.getBoundingClientRect();
              return { id: el.getAttribute(attr) ?? '', x: r.x, y: r.y, w: r.width, h: r.height };
            }),
          idAttr,
        );
      const apart = (a: Box, b: Box): boolean => a.x + a.w <= b.x + 1 || b.x + b.w <= a.x + 1 || a.y + a.h <= b.y + 1 || b.y + b.h <= a.y + 1;
      const nodes = await boxes('[data-testid="node"]', 'data-node-id');
      for (const [i, a] of nodes.entries()) for (const b of nodes.slice(i + 1)) expect(apart(a, b), `${file}: nodes ${a.id} and ${b.id} overlap`).toBe(true);
      // Fit leaves the minimap's corner free (connect.json's clips used to sit under it).
      const [map] = await boxes('[data-testid="minimap"]', 'data-testid');
      expect(map).toBeDefined();
      for (const n of nodes) expect(apart(map!, n), `${file}: node ${n.id} lies under the minimap after Fit`).toBe(true);
      const groups = await boxes('.sk-group', 'data-group-index');
      expect(groups.length).toBe(shipped.groups?.length ?? 0);
      for (const g of groups) {
        const members = new Set(shipped.groups![Number(g.id)]!.nodes);
        for (const n of nodes.filter((n) => !members.has(n.id))) expect(apart(g, n), `${file}: node ${n.id} lies in group box ${g.id}`).toBe(true);
      }
      expect(errors).toEqual([]);
      await context.close();
    },
    60_000,
  );

  it.each(TEMPLATES)(
    '%s runs as shipped',
    async (file) => {
      const shipped = JSON.parse(readFileSync(join(ROOT, 'workflows', file), 'utf8')) as { nodes: unknown[] };
      const { page, context, errors } = await openEditor(h);
      page.on('dialog', (d) => void d.accept());
      await page.selectOption('[data-testid="new-menu"]', file);
      await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(shipped.nodes.length);
      const before = (await history()).length;
      await page.getByTestId('queue').click();
      // The history lists finished prompts: it grows once this one is done.
      await expect.poll(async () => (await history()).length, { timeout: 170_000, interval: 1000 }).toBe(before + 1);
      const entry = (await history())[0]!;
      expect(entry.error?.message ?? null).toBeNull();
      expect(entry.status).toBe('success');
      const files = Object.values(entry.outputs).flatMap((o) => o.files ?? []);
      expect(files.length).toBeGreaterThan(0);
      expect(await page.getByTestId('issues-banner').count()).toBe(0);
      expect(errors).toEqual([]);
      await context.close();
    },
    200_000,
  );
});
