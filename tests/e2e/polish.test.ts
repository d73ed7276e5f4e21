// Editor polish in headless Chromium: panning leaves text unselected, live deletion of history entries, the queue panel and missing files, collapsed node width.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry, PromptResponse } from '../../protocol/index.js';
import { openEditor, ROOT, shot, startHarness, type Harness, node, openDoc, areaTransform } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

/** What the page holds selected: the document selection's type ("Range" when any text is) and text inside inputs and textareas. */
async function selectedText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const selection = window.getSelection();
    // Chrome mirrors a focused field's selection into the document selection; count it once, as the field's.
    const inField = document.activeElement instanceof HTMLInputElement || document.activeElement instanceof HTMLTextAreaElement;
    const parts = selection?.type === 'Range' && !inField ? [`document: ${JSON.stringify(String(selection))}`] : [];
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')) {
      try {
        if (el.selectionStart !== null && el.selectionEnd !== null && el.selectionEnd > el.selectionStart)
          parts.push(`field: ${el.value.slice(el.selectionStart, el.selectionEnd)}`);
      } catch {
        // number inputs have no text selection
      }
    }
    return parts.join('');
  });
}

describe('panning the canvas', () => {
  it('selects no text in the nodes it crosses, while a focused field still selects and types', async () => {
    const { page, context, errors } = await openEditor(h);
    const canvas = (await page.getByTestId('canvas').boundingBox())!;
    const prompt = node(page, 'prompt');
    const box = (await prompt.boundingBox())!;
    // From empty canvas above-left of the prompt node, across its fields, to beyond it.
    const from = { x: box.x - 30, y: Math.max(canvas.y + 10, box.y - 30) };
    const hit = await page.evaluate(({ x, y }) => (document.elementFromPoint(x, y) as HTMLElement).closest('.sk-node') === null, from);
    expect(hit).toBe(true);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width + 60, box.y + box.height + 40, { steps: 12 });
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 6 });
    await shot(page, 'p01-pan-no-selection');
    expect(await selectedText(page)).toBe('');
    await page.mouse.up();
    expect(await selectedText(page)).toBe('');
    // The pan moved the view (the drag was a pan, not a click).
    expect((await prompt.boundingBox())!.x).not.toBeCloseTo(box.x, 0);

    // Inside a focused field the browser still selects and types: a drag over the prompt's text selects it, typing replaces it.
    const text = prompt.locator('textarea').first();
    const field = (await text.boundingBox())!;
    await text.click();
    await page.keyboard.press('Control+a');
    await page.keyboard.type('a red fox');
    await expect.poll(() => text.inputValue()).toBe('a red fox');
    const row = field.y + 12;
    const start = (await text.boundingBox())!;
    await page.mouse.move(start.x + 4, row);
    await page.mouse.down();
    await page.mouse.move(start.x + start.width - 4, row, { steps: 6 });
    await page.mouse.up();
    expect(await selectedText(page)).toBe('field: a red fox');
    await page.keyboard.type('a blue whale');
    await expect.poll(() => text.inputValue()).toBe('a blue whale');
    await context.close();
    expect(errors).toEqual([]);
  });
});

/** Queues the sample clip read and written again (fast, no model) and waits until it has succeeded. */
async function quickRun(prefix: string): Promise<HistoryEntry> {
  const doc = JSON.parse(readFileSync(join(ROOT, 'workflows', 'video-to-video.json'), 'utf8')) as { nodes: Array<{ id: string; params?: Record<string, unknown> }> };
  const load = doc.nodes.find((n) => n.id === 'video')!;
  const save = doc.nodes.find((n) => n.id === 'save')!;
  const workflow = {
    format: 'skyloom-workflow',
    version: 2,
    title: prefix,
    nodes: [
      { id: 'video', type: 'load-video', params: load.params },
      { id: 'save', type: 'save-video', params: { ...save.params, filename_prefix: prefix }, inputs: { video: { node: 'video', output: 'video' } } },
    ],
  };
  const res = await fetch(`${h.base}/api/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflow }) });
  expect(res.status).toBe(200);
  const { promptId } = (await res.json()) as PromptResponse;
  let entry: HistoryEntry | undefined;
  await expect
    .poll(
      async () => {
        entry = (await (await fetch(`${h.base}/api/history/${promptId}`)).json()) as HistoryEntry;
        return entry.status;
      },
      { timeout: 120_000, interval: 300 },
    )
    .toBe('success');
  return entry!;
}

const fileOf = (entry: HistoryEntry) => Object.values(entry.outputs).flatMap((ui) => ui.files ?? [])[0]!;
const historyRow = (page: Page, promptId: string) => page.locator(`[data-testid="history-entry"][data-prompt-id="${promptId}"]`);
const card = (page: Page, promptId: string) => page.locator(`[data-testid="gallery-item"][data-prompt-id="${promptId}"]`);

describe('the history in every tab', () => {
  it('shows a removed output file as gone in the queue panel, and drops an entry deleted in another tab from its panel and gallery', async () => {
    const gone = await quickRun('polish-gone');
    const other = await quickRun('polish-other');
    const goneFile = join(h.dataDir, 'output', ...fileOf(gone).filename.split('/'));
    expect(existsSync(goneFile)).toBe(true);
    rmSync(goneFile);

    const a = await openEditor(h);
    const b = await openEditor(h);
    for (const { page } of [a, b]) {
      await page.getByTestId('toggle-run-panel').click();
      await expect.poll(() => historyRow(page, other.promptId).count()).toBe(1);
    }

    // The queue panel offers no player and no download for a file that is gone; the other entry still plays.
    const goneRow = historyRow(a.page, gone.promptId);
    await expect.poll(() => goneRow.getByTestId('history-gone').count()).toBe(1);
    expect(await goneRow.getByTestId('history-gone').textContent()).toContain(fileOf(gone).filename.split('/').pop()!);
    expect(await goneRow.locator('video, img').count()).toBe(0);
    expect(await goneRow.locator('a[download]').count()).toBe(0);
    const otherRow = historyRow(a.page, other.promptId);
    expect(await otherRow.getByTestId('history-gone').count()).toBe(0);
    expect(await otherRow.locator('video').count()).toBe(1);
    expect(await otherRow.locator('a[download]').getAttribute('href')).toBe(fileOf(other).url);
    await shot(a.page, 'p02-history-file-gone');

    // Tab B has the gallery open; tab A deletes the other entry from its gallery.
    for (const { page } of [a, b]) {
      await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
      await page.keyboard.press('g');
      await expect.poll(() => card(page, other.promptId).count()).toBe(1);
    }
    await card(a.page, other.promptId).getByTestId('gallery-delete').click();
    await card(a.page, other.promptId).getByTestId('gallery-delete-confirm').click();
    await expect.poll(() => card(a.page, other.promptId).count()).toBe(0);
    expect((await fetch(`${h.base}/api/history/${other.promptId}`)).status).toBe(404);
    // Tab B, which did nothing, loses it live from both its gallery and its queue panel; the other prompt stays.
    await expect.poll(() => card(b.page, other.promptId).count()).toBe(0);
    await expect.poll(() => historyRow(b.page, other.promptId).count()).toBe(0);
    expect(await card(b.page, gone.promptId).count()).toBe(1);
    expect(await historyRow(b.page, gone.promptId).count()).toBe(1);
    await shot(b.page, 'p03-deleted-in-other-tab');
    for (const t of [a, b]) {
      await t.context.close();
      expect(t.errors).toEqual([]);
    }
  }, 300_000);
});

type Point = { x: number; y: number };
const distance = (a: Point, b: Point) => Math.hypot(a.x - b.x, a.y - b.y);

async function center(page: Page, selector: string): Promise<Point> {
  const box = (await page.locator(selector).first().boundingBox())!;
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

/** The screen points where a link's path starts and ends. */
async function linkEnds(page: Page, id: string): Promise<{ start: Point; end: Point }> {
  return page.locator(`[data-testid="connection"][data-link="${id}"] path`).evaluate((p: SVGPathElement) => {
    const m = p.getScreenCTM()!;
    const at = (length: number) => {
      const pt = p.getPointAtLength(length);
      return { x: pt.x * m.a + pt.y * m.c + m.e, y: pt.x * m.b + pt.y * m.d + m.f };
    };
    return { start: at(0), end: at(p.getTotalLength()) };
  });
}

type Doc = { nodes: Array<{ id: string; title?: string; collapsed?: boolean; [key: string]: unknown }> };

describe('a collapsed node', () => {
  it('is as wide as its title (120 to 250 px), links end at its sockets, and the width comes back from the file without being stored', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Doc;
    const LONG = 'Negative prompt: blurry, low quality, watermark, text, extra limbs';
    doc.nodes.find((n) => n.id === 'negative')!.title = LONG;
    await openDoc(page, doc);
    const decode = node(page, 'decode');
    await expect.poll(() => decode.count()).toBe(1);
    await page.getByTestId('fit').click();
    const k = (await areaTransform(page)).k;
    expect((await decode.boundingBox())!.width / k).toBeCloseTo(250, 0);

    // Where a link ends relative to its socket's dot (the link plugin draws it a little outside).
    const dot = (side: 'input' | 'output', key: string) => center(page, `[data-testid="node"][data-node-id="decode"] [data-${side}="${key}"] .sk-socket`);
    const IN = 'sampler.latent->decode.latent';
    const OUT = 'decode.video->save.video';
    const offIn = await (async () => {
      const d = await dot('input', 'latent');
      const e = (await linkEnds(page, IN)).end;
      return { x: e.x - d.x, y: e.y - d.y };
    })();
    const offOut = await (async () => {
      const d = await dot('output', 'video');
      const s = (await linkEnds(page, OUT)).start;
      return { x: s.x - d.x, y: s.y - d.y };
    })();

    await decode.getByTestId('collapse').click();
    await page.locator('[data-testid="node"][data-node-id="negative"]').getByTestId('collapse').click();
    await expect.poll(() => decode.getAttribute('class')).toContain('collapsed');
    /** The collapsed decoder's width in canvas px, and whether its title shows whole. */
    const narrow = async () => {
      const width = (await decode.boundingBox())!.width / (await areaTransform(page)).k;
      const whole = await decode.locator('.title').evaluate((t) => t.scrollWidth <= t.clientWidth);
      return { width: Math.round(width), whole };
    };
    await expect.poll(async () => (await narrow()).width).toBeLessThan(200);
    const first = await narrow();
    expect(first.whole).toBe(true);
    expect(first.width).toBeGreaterThanOrEqual(120);
    // A title too long for 250 px keeps the full width and ends in an ellipsis.
    const negative = node(page, 'negative');
    await expect.poll(() => negative.getAttribute('class')).toContain('collapsed');
    expect(Math.round((await negative.boundingBox())!.width / k)).toBe(250);
    expect(await negative.locator('.title').evaluate((t) => t.scrollWidth > t.clientWidth)).toBe(true);

    // The sockets sit on the narrow bar's two edges, and the links in and out end at them.
    const endsOnBar = async () => {
      const box = (await decode.boundingBox())!;
      const mid = box.y + box.height / 2;
      const dotIn = await dot('input', 'latent');
      const dotOut = await dot('output', 'video');
      const into = (await linkEnds(page, IN)).end;
      const out = (await linkEnds(page, OUT)).start;
      return [
        distance(dotIn, { x: box.x, y: mid }) < 3 && distance(into, { x: dotIn.x + offIn.x, y: dotIn.y + offIn.y }) < 3,
        distance(dotOut, { x: box.x + box.width, y: mid }) < 3 && distance(out, { x: dotOut.x + offOut.x, y: dotOut.y + offOut.y }) < 3,
      ];
    };
    await expect.poll(endsOnBar).toEqual([true, true]);
    await shot(page, 'p04-collapsed-narrow');

    // Saved: collapsed, and no width of any kind in the file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-json').click()]);
    const saved = JSON.parse(readFileSync((await download.path())!, 'utf8')) as Doc;
    const savedDecode = saved.nodes.find((n) => n.id === 'decode')!;
    expect(savedDecode.collapsed).toBe(true);
    expect(Object.keys(savedDecode).filter((key) => /width|size/i.test(key))).toEqual([]);
    expect(savedDecode.params ?? {}).toEqual(doc.nodes.find((n) => n.id === 'decode')!.params ?? {});

    // Loaded again: the same narrow bar, links on its edges.
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => decode.count()).toBe(0);
    await openDoc(page, saved);
    await expect.poll(() => decode.getAttribute('class')).toContain('collapsed');
    await expect.poll(narrow).toEqual(first);
    await expect.poll(endsOnBar).toEqual([true, true]);

    // Expanded, it is full width again.
    await decode.getByTestId('collapse').click();
    await expect.poll(async () => Math.round((await decode.boundingBox())!.width / (await areaTransform(page)).k)).toBe(250);
    await context.close();
    expect(errors).toEqual([]);
  }, 120_000);
});
