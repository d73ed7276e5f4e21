// The everyday moves of an artist in headless Chromium: live errors, partial runs, node modes, reroutes, file positions, honest widgets.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
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

const node = (page: Page, id: string) => page.locator(`[data-testid="node"][data-node-id="${id}"]`);
const problemsOf = (page: Page, id: string) => node(page, id).locator('[data-testid="node-problems"] li.error');

async function history(): Promise<HistoryList['items']> {
  return ((await (await fetch(`${h.base}/api/history?limit=100`)).json()) as HistoryList).items;
}

/** Waits for the prompt queued after `before` entries to finish; returns its entry. */
async function finished(page: Page, before: number): Promise<HistoryList['items'][number]> {
  await expect.poll(async () => (await history()).length, { timeout: 30_000 }).toBeGreaterThan(before);
  const deadline = Date.now() + 120_000;
  let entry = (await history())[0]!;
  while ((entry.status === 'queued' || entry.status === 'running') && Date.now() < deadline) {
    await page.waitForTimeout(300);
    entry = (await history())[0]!;
  }
  return entry;
}

function template(name: string): { nodes: Array<{ id: string; type: string; params?: Record<string, unknown>; inputs?: Record<string, unknown>; position?: [number, number] }> } & Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, 'workflows', name), 'utf8'));
}

/** Opens a workflow document as if a .json file were dropped from the desktop. */
async function openDoc(page: Page, doc: unknown): Promise<void> {
  await page.evaluate((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], 'w.json', { type: 'application/json' }));
    const target = document.querySelector('.app')!;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, JSON.stringify(doc));
}

async function select(page: Page, id: string): Promise<void> {
  await node(page, id).locator('header').click({ position: { x: 40, y: 8 } });
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
    await expect.poll(() => node(page, 'loose').locator('[data-testid="node-problems"] li.warning').allTextContents()).toContain(
      'Node "loose" feeds no output node, so it does not run',
    );
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
    await expect.poll(async () => (await history()).length, { timeout: 30_000 }).toBe(before + 2);
    type Doc = { nodes: Array<{ id: string; params?: { seed?: number } }> };
    const docs = await Promise.all(
      (await history()).slice(0, 2).map(async (e) => (await (await fetch(`${h.base}/api/history/${e.promptId}`)).json()).workflow as Doc),
    );
    expect(docs.map((d) => d.nodes.find((n) => n.id === 'sampler')!.params!.seed).sort()).toEqual([42, 43]);
    expect(docs[0]!.nodes.map((n) => n.id)).not.toContain('loose');
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);
});
