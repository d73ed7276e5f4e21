// The editor in headless Chromium against a real server: run the default workflow, build graphs, errors, files, library.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEditor, shot, startHarness, type Harness, node } from './harness.js';

let h: Harness;
const PROMPT = 'a blue square moving right on a white background';

beforeAll(async () => {
  h = await startHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

/** Sets a text param through its widget, as a user would (type, then leave the field). */
async function setText(page: Page, nodeId: string, param: string, value: string): Promise<void> {
  const field = node(page, nodeId).locator(`[data-param="${param}"] input, [data-param="${param}"] textarea`).first();
  await field.fill(value);
  await field.press('Tab');
}

async function socketCenter(page: Page, nodeId: string, side: 'input' | 'output', key: string): Promise<{ x: number; y: number }> {
  const row = side === 'output' ? `[data-output="${key}"]` : `[data-input="${key}"], [data-param-row="${key}"]`;
  const box = await node(page, nodeId).locator(row).first().locator('.sk-socket').first().boundingBox();
  if (!box) throw new Error(`no ${side} socket ${key} on ${nodeId}`);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }, midShot?: string): Promise<void> {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) {
    await page.mouse.move(from.x + ((to.x - from.x) * i) / 8, from.y + ((to.y - from.y) * i) / 8);
    if (i === 6 && midShot) await shot(page, midShot);
  }
  await page.mouse.up();
}

/** Drops a file on an element, as the browser does for a file dragged from the desktop. */
async function dropFile(page: Page, selector: string, name: string, type: string, content: string | { fromUrl: string }): Promise<void> {
  await page.evaluate(
    async ({ selector, name, type, content }) => {
      const body = typeof content === 'string' ? new Blob([content]) : await (await fetch(content.fromUrl)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([body], name, { type }));
      const target = document.querySelector(selector)!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { selector, name, type, content },
  );
}

async function links(page: Page): Promise<string[]> {
  return page.locator('[data-testid="connection"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-link') ?? ''));
}

describe('the editor', () => {
  it('runs the default workflow: prompt edited, queued, live progress and preview, then the video plays', async () => {
    const { page, context, errors } = await openEditor(h);
    expect(await page.locator('[data-testid="node"]').count()).toBe(8);
    await expect.poll(() => page.locator('[data-testid="connection"][data-link]').count()).toBeGreaterThanOrEqual(10);
    await shot(page, '01-default-workflow');

    await setText(page, 'model', 'name', h.model);
    await setText(page, 'prompt', 'text', PROMPT);
    // Both models sample a 2-second clip in well under a second at 20 steps, which can end before
    // the progress bar is looked for; the most steps the widget allows keeps the run observable.
    await setText(page, 'sampler', 'steps', '200');
    if (h.model === 'tiny') await setText(page, 'latent', 'seconds', '4');
    await expect.poll(() => node(page, 'model').locator('[data-testid="node-problems"] li.error').count()).toBe(0);

    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+Enter');
    await page.waitForSelector('[data-node-id="sampler"] [data-testid="node-progress"]', { timeout: 60_000 });
    await page.waitForSelector('[data-node-id="sampler"] [data-testid="live-preview"]', { timeout: 60_000 });
    await shot(page, '02-running-live-preview');
    // Previews replace each other several times a second (each revoking the last blob URL), so
    // one may be swapped out before it decodes: wait until one is shown decoded.
    const live = node(page, 'sampler').locator('[data-testid="live-preview"]');
    await expect.poll(() => live.evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0)), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await live.evaluate((img: HTMLImageElement) => img.src)).toMatch(/^blob:/);

    const video = node(page, 'save').locator('[data-testid="output-video"]');
    await video.waitFor({ timeout: 120_000 });
    const played = await video.evaluate(async (v: HTMLVideoElement) => {
      const deadline = Date.now() + 20_000;
      while (v.readyState < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await v.play().catch(() => {});
      const t0 = v.currentTime;
      await new Promise((r) => setTimeout(r, 700));
      return { readyState: v.readyState, duration: v.duration, advanced: v.currentTime !== t0, src: v.currentSrc, error: v.error?.message ?? null };
    });
    expect(played.error).toBeNull();
    expect(played.readyState).toBeGreaterThanOrEqual(2);
    expect(played.duration).toBeGreaterThan(1);
    expect(played.advanced).toBe(true);
    expect(played.src).toMatch(/\/api\/outputs\/.+\.mp4$/);
    const href = await node(page, 'save').locator('[data-testid="download"]').getAttribute('href');
    expect(href).toBe(new URL(played.src).pathname);
    expect(await node(page, 'sampler').getAttribute('data-status')).toBe('done');
    // The queue and history panel (closed by default at 1280×720) lists the finished prompt.
    if ((await page.getByTestId('run-panel').count()) === 0) await page.getByTestId('toggle-run-panel').click();
    await expect.poll(() => page.locator('[data-testid="history-entry"].success').count()).toBeGreaterThanOrEqual(1);
    await page.getByTestId('fit').click();
    await page.waitForTimeout(300);
    await shot(page, '03-finished-video');
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.getByTestId('fit').click();
    await page.waitForTimeout(300);
    await shot(page, '03b-finished-video-1920');
    expect(errors).toEqual([]);
    await context.close();
  }, 240_000);

  it('shows on the text encoder what the model cannot draw: an unknown word and a background it never saw', async () => {
    const { page, context, errors } = await openEditor(h);
    await setText(page, 'model', 'name', 'skyloom-tiny');
    await setText(page, 'prompt', 'text', 'a purple triangle moving down on a white background with a cat');
    await setText(page, 'sampler', 'steps', '2');
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+Enter');
    await node(page, 'save').locator('[data-testid="output-video"]').waitFor({ timeout: 120_000 });
    const badge = node(page, 'positive').locator('[data-testid="node-warning"]');
    await expect.poll(() => badge.textContent()).toBe('⚠ 2');
    expect(await node(page, 'positive').locator('[data-testid="node-problems"] li.warning').allTextContents()).toEqual([
      expect.stringContaining('the model does not know: with, cat'),
      expect.stringContaining('the model cannot draw a white background; its backgrounds are black, gray, navy, dark green and sunset'),
    ]);
    // The list grows over the negative prompt's node below; it is drawn on top, so it can be read.
    const covered = await node(page, 'positive')
      .locator('[data-testid="node-problems"] li.warning')
      .evaluateAll((items) =>
        items.map((li) => {
          const r = li.getBoundingClientRect();
          return !li.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
        }),
      );
    expect(covered).toEqual([false, false]);
    await shot(page, '01c-prompt-warnings');
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);

  it('builds a small graph from the palette by clicks and drags, refuses an incompatible link, and undoes and redoes', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(0);

    // By click, by drag onto the canvas, and by typing in the search.
    await page.locator('[data-testid="palette"] [data-node-type="prompt"]').click();
    const canvas = page.locator('[data-testid="canvas"]');
    const box = (await canvas.boundingBox())!;
    await page.dragAndDrop('[data-testid="palette"] [data-node-type="text-encode"]', '[data-testid="canvas"]', {
      targetPosition: { x: box.width / 2 + 150, y: box.height / 2 - 120 },
    });
    await page.locator('[data-testid="palette-search"]').fill('load mod');
    await page.locator('[data-testid="palette-search"]').press('Enter');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(3);
    // Put the model node somewhere free, by dragging its title.
    const title = node(page, 'load-model').locator('header');
    const tb = (await title.boundingBox())!;
    await drag(page, { x: tb.x + 40, y: tb.y + 10 }, { x: box.x + 60, y: box.y + 60 });

    // A param turned into an input: TEXT output onto the text param of the encoder.
    await drag(page, await socketCenter(page, 'prompt', 'output', 'text'), await socketCenter(page, 'text-encode', 'input', 'text'), '04a-dragging-a-link');
    await expect.poll(() => links(page)).toContain('prompt.text->text-encode.text');
    await expect.poll(() => node(page, 'text-encode').locator('[data-param-row="text"] .linked-label').count()).toBe(1);
    await drag(page, await socketCenter(page, 'load-model', 'output', 'model'), await socketCenter(page, 'text-encode', 'input', 'model'));
    await expect.poll(() => links(page)).toContain('load-model.model->text-encode.model');

    // Incompatible: TEXT into a MODEL input is refused, with the reason.
    await drag(page, await socketCenter(page, 'prompt', 'output', 'text'), await socketCenter(page, 'text-encode', 'input', 'model'));
    await expect.poll(() => page.locator('[data-testid="toasts"] .toast.error').allTextContents()).toContainEqual(expect.stringContaining('Cannot connect TEXT'));
    // The refused drag's pseudo-link is removed after the toast shows; it must go, and no third link stay.
    await expect.poll(async () => (await links(page)).sort()).toEqual(['load-model.model->text-encode.model', 'prompt.text->text-encode.text']);
    await shot(page, '04-built-from-palette');

    // Undo the last link, then the one before; redo both.
    await canvas.click({ position: { x: 10, y: box.height - 10 } });
    await page.keyboard.press('Control+z');
    await expect.poll(() => links(page)).toEqual(['prompt.text->text-encode.text']);
    await page.keyboard.press('Control+z');
    await expect.poll(() => links(page)).toEqual([]);
    expect(await node(page, 'text-encode').locator('[data-param="text"] textarea').count()).toBe(1);
    await page.keyboard.press('Control+Shift+z');
    await page.keyboard.press('Control+y');
    await expect.poll(async () => (await links(page)).sort()).toEqual(['load-model.model->text-encode.model', 'prompt.text->text-encode.text']);

    // Delete a selected node, undo brings it back with its link.
    await node(page, 'prompt').locator('header').click();
    await page.keyboard.press('Delete');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(2);
    await page.getByTestId('undo').click();
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(3);
    await expect.poll(() => links(page)).toContain('prompt.text->text-encode.text');

    // Copy and paste: a new node with a fresh id.
    await node(page, 'prompt').locator('header').click();
    await page.keyboard.press('Control+c');
    await page.mouse.move(box.x + box.width - 200, box.y + box.height - 150);
    await page.keyboard.press('Control+v');
    await expect.poll(() => page.locator('[data-testid="node"][data-node-id="prompt-2"]').count()).toBe(1);

    // Rectangle selection (Shift+drag), then a titled group around the selection.
    await canvas.click({ position: { x: 10, y: box.height - 10 } });
    const p1 = (await node(page, 'prompt').boundingBox())!;
    const p2 = (await node(page, 'text-encode').boundingBox())!;
    await page.keyboard.down('Shift');
    await drag(
      page,
      { x: Math.min(p1.x, p2.x) - 20, y: Math.min(p1.y, p2.y) - 20 },
      { x: Math.max(p1.x + p1.width, p2.x + p2.width) + 10, y: Math.max(p1.y + p1.height, p2.y + p2.height) + 10 },
    );
    await page.keyboard.up('Shift');
    await expect
      .poll(() => page.locator('[data-testid="node"].selected').evaluateAll((els) => els.map((e) => e.getAttribute('data-node-id')).sort()))
      .toEqual(['prompt', 'text-encode']);
    await page.keyboard.press('Control+g');
    const groupTitle = page.getByTestId('group-title-input');
    await groupTitle.fill('Conditioning');
    await groupTitle.press('Enter');
    await expect.poll(() => page.getByTestId('group-title').allTextContents()).toEqual(['Conditioning']);
    // Rename a node in place.
    await node(page, 'load-model').locator('header').dblclick();
    await page.getByTestId('node-title-input').fill('Tiny model');
    await page.getByTestId('node-title-input').press('Enter');
    await expect.poll(() => node(page, 'load-model').locator('header .title').textContent()).toBe('Tiny model');

    // Auto-arrange lays the nodes out left to right by depth: the model and prompt before the encoder.
    await page.getByTestId('arrange').click();
    await page.waitForTimeout(300);
    const x = async (id: string) => (await node(page, id).boundingBox())!.x;
    expect(await x('load-model')).toBeLessThan(await x('text-encode'));
    expect(await x('prompt')).toBeLessThan(await x('text-encode'));

    // The context menu of the canvas lists node categories.
    await node(page, 'prompt-2').locator('header').click({ button: 'right' });
    await page.waitForSelector('[data-testid="context-menu"]');
    expect(await page.locator('[data-testid="context-menu-item"]').allTextContents()).toEqual([
      'Bypass  (Ctrl+B)',
      'Mute  (Ctrl+M)',
      'Collapse  (Alt+C)',
      'Colour',
      'Duplicate',
      'Delete',
    ]);
    await page.locator('[data-testid="context-menu-item"]', { hasText: 'Delete' }).click();
    await expect.poll(() => node(page, 'prompt-2').count()).toBe(0);
    await canvas.click({ button: 'right', position: { x: 20, y: 20 } });
    await page.waitForSelector('[data-testid="context-menu"]');
    expect(await page.locator('[data-testid="context-menu-item"]').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('sampling')]));
    await shot(page, '05-context-menu');
    await page.keyboard.press('Escape');
    // Right of the minimap, which holds the bottom left corner.
    await canvas.click({ position: { x: 250, y: box.height - 20 } });

    // Double-click the canvas: a search; Enter adds the first match there.
    await canvas.dblclick({ position: { x: 290, y: box.height - 120 } });
    await page.getByTestId('quick-add-search').fill('seed');
    await page.getByTestId('quick-add-search').press('Enter');
    await expect.poll(() => node(page, 'seed').count()).toBe(1);

    // A link dropped on empty canvas offers only nodes that take it, and links the one picked.
    const from = await socketCenter(page, 'text-encode', 'output', 'conditioning');
    await drag(page, from, { x: from.x + 60, y: Math.min(from.y + 200, box.y + box.height - 40) });
    await page.waitForSelector('[data-testid="quick-add"]');
    const offered = await page.locator('[data-testid="quick-add"] .item').evaluateAll((els) => els.map((e) => e.getAttribute('data-node-type')));
    expect(offered).toContain('dit-sampler');
    expect(offered).not.toContain('vae-decode');
    await shot(page, '05b-quick-add-from-link');
    await page.locator('[data-testid="quick-add"] .item[data-node-type="dit-sampler"]').click();
    await expect.poll(() => links(page)).toContain('text-encode.conditioning->dit-sampler.positive');
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('shows the problems of a broken workflow on the nodes they belong to', async () => {
    const { page, context, errors } = await openEditor(h);
    const broken = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'workflows', 'text-to-video.json'), 'utf8')) as {
      nodes: Array<{ id: string; type: string; params?: Record<string, unknown>; inputs?: Record<string, { node: string; output: string }> }>;
    };
    broken.nodes.find((n) => n.id === 'model')!.params!.name = 'no-such-model';
    broken.nodes.find((n) => n.id === 'sampler')!.params!.steps = 100000;
    broken.nodes.find((n) => n.id === 'decode')!.inputs!.latent = { node: 'sampler', output: 'nope' };
    broken.nodes.push({ id: 'mystery', type: 'frobnicate-video', params: { strength: 3 }, inputs: { video: { node: 'decode', output: 'video' } } });
    // Dropped on the page, as a file from the desktop.
    await dropFile(page, '.app', 'broken.json', 'application/json', JSON.stringify(broken));
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(9);
    // Known before any run: the unknown type is kept and marked, not dropped.
    await expect.poll(() => node(page, 'mystery').locator('[data-testid="node-problems"]').textContent()).toContain('Unknown node type "frobnicate-video"');

    await page.getByTestId('queue').click();
    await page.waitForSelector('[data-testid="issues-banner"]');
    await expect.poll(() => node(page, 'sampler').locator('[data-testid="node-problems"]').textContent()).toMatch(/steps/i);
    expect(await node(page, 'sampler').locator('[data-param="steps"]').getAttribute('class')).toContain('bad');
    expect(await node(page, 'model').locator('[data-testid="node-problems"]').textContent()).toContain('no-such-model');
    expect(await node(page, 'decode').locator('[data-testid="node-problems"]').textContent()).toContain('nope');
    expect(await node(page, 'mystery').getAttribute('class')).toContain('has-error');
    expect(await node(page, 'prompt').locator('[data-testid="node-problems"]').count()).toBe(0);
    await shot(page, '06-validation-errors');
    // A 400 from the server is expected here; the page itself logs nothing.
    expect(errors.filter((e) => !e.includes('400'))).toEqual([]);
    await context.close();
  }, 60_000);

  it('shows a node that fails while running in the error state, with its message', async () => {
    const { page, context, errors } = await openEditor(h);
    const failing = {
      format: 'skyloom-workflow',
      version: 1,
      title: 'Missing clip',
      nodes: [
        { id: 'clip', type: 'load-video', params: { path: 'no-such-clip.mp4' }, position: [0, 0] },
        { id: 'out', type: 'save-video', inputs: { video: { node: 'clip', output: 'video' } }, position: [320, 0] },
      ],
    };
    await page.locator('[data-testid="file-input"]').setInputFiles({ name: 'missing.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(failing)) });
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(2);
    await page.getByTestId('queue').click();
    await page.waitForSelector('[data-node-id="clip"][data-status="error"]', { timeout: 30_000 });
    expect(await node(page, 'clip').locator('[data-testid="node-problems"]').textContent()).toContain('no-such-clip.mp4');
    expect(await node(page, 'out').getAttribute('data-status')).toBe('idle');
    await shot(page, '06b-runtime-error');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('restores the workflow embedded in an output .mp4 dropped on the page', async () => {
    // The clip the first test rendered, with the workflow (and its edited prompt) embedded.
    const outputs = readdirSync(join(h.dataDir, 'output')).filter((f) => f.endsWith('.mp4'));
    expect(outputs.length).toBeGreaterThan(0);
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(0);
    await dropFile(page, '.app', outputs[0]!, 'video/mp4', { fromUrl: `/api/outputs/${encodeURIComponent(outputs[0]!)}` });
    await expect.poll(() => page.locator('[data-testid="node"]').count(), { timeout: 20_000 }).toBe(8);
    expect(await node(page, 'prompt').locator('textarea').inputValue()).toBe(PROMPT);
    expect(await node(page, 'sampler').locator('[data-param="steps"] input').inputValue()).toBe('200');
    await shot(page, '07-restored-from-mp4');

    // A video dropped on a path field is uploaded and used there.
    await page.locator('[data-testid="palette"] [data-node-type="load-video"]').click();
    await node(page, 'load-video').waitFor();
    await dropFile(page, '[data-node-id="load-video"] [data-testid="file-widget"]', 'clip.mp4', 'video/mp4', { fromUrl: `/api/outputs/${encodeURIComponent(outputs[0]!)}` });
    // Stored under its content hash, shown under the name it was dropped with, with its poster frame.
    await expect.poll(() => node(page, 'load-video').getByTestId('file-name').textContent()).toBe('clip.mp4');
    await expect.poll(() => node(page, 'load-video').locator('[data-testid="file-thumb"] video').getAttribute('src')).toMatch(/^\/api\/uploads\/[0-9a-f]{64}\.mp4#t=0\.1$/);
    expect(await page.locator('[data-testid="node"]').count()).toBe(9);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('saves to the library and opens from it; unsaved changes survive a reload', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await setText(page, 'prompt', 'text', 'a green triangle spinning');
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+s');
    await page.locator('[data-testid="library-name"]').fill('green triangle');
    await shot(page, '08-library-save');
    await page.getByTestId('library-save').click();
    await expect
      .poll(async () => ((await (await fetch(`${h.base}/api/workflows`)).json()) as { items: Array<{ name: string }> }).items.map((i) => i.name))
      .toContain('green triangle');
    const saved = (await (await fetch(`${h.base}/api/workflows/green%20triangle`)).json()) as { nodes: Array<{ id: string; params?: Record<string, unknown> }> };
    expect(saved.nodes.find((n) => n.id === 'prompt')!.params!.text).toBe('a green triangle spinning');
    expect(await page.getByTestId('dirty').count()).toBe(0);

    // Export downloads the same document as a .json file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-json').click()]);
    expect(download.suggestedFilename()).toBe('green triangle.json');
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as typeof saved & { format: string };
    expect(exported.format).toBe('skyloom-workflow');
    expect(exported.nodes.find((n) => n.id === 'prompt')!.params!.text).toBe('a green triangle spinning');

    // An edit, then a reload: the edit and the unsaved mark are still there.
    await setText(page, 'prompt', 'text', 'a yellow star');
    await expect.poll(() => page.getByTestId('dirty').count()).toBe(1);
    await page.waitForTimeout(400);
    await page.reload();
    await page.waitForSelector('[data-testid="node"][data-node-id="prompt"]');
    expect(await node(page, 'prompt').locator('textarea').inputValue()).toBe('a yellow star');
    expect(await page.getByTestId('dirty').count()).toBe(1);

    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(0);
    await page.getByTestId('library').click();
    await page.locator('[data-testid="library-item"][data-name="green triangle"] .open').click();
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(8);
    expect(await node(page, 'prompt').locator('textarea').inputValue()).toBe('a green triangle spinning');
    expect(await page.locator('.libname').textContent()).toBe('green triangle');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('lists the keyboard shortcuts in a help panel', async () => {
    const { page, context, errors } = await openEditor(h);
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('?');
    await page.waitForSelector('[data-testid="help-dialog"]');
    const text = await page.locator('[data-testid="help-dialog"]').textContent();
    for (const key of ['Ctrl+Enter', 'Ctrl+Z', 'Ctrl+Shift+Z', 'Delete', 'Ctrl+C', 'Ctrl+V', 'Ctrl+G']) expect(text).toContain(key);
    await shot(page, '09-help');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('[data-testid="help-dialog"]').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  }, 30_000);

  it('interrupts a running prompt and cancels a queued one from the queue panel', async () => {
    const { page, context, errors } = await openEditor(h);
    // Always the random-weight model here: a clip this long would take the real one far too long.
    await setText(page, 'model', 'name', 'tiny');
    // A long clip, so that the first prompt is still running while the second waits (the harness
    // raises the server's admission limit on video length for it).
    await setText(page, 'latent', 'frames', '7200');
    await setText(page, 'sampler', 'steps', '200');
    if ((await page.getByTestId('run-panel').count()) === 0) await page.getByTestId('toggle-run-panel').click();
    await page.getByTestId('queue').click();
    await page.waitForSelector('[data-node-id="sampler"][data-status="running"]', { timeout: 60_000 });
    await page.getByTestId('queue').click();
    await expect.poll(() => page.getByTestId('queue-pending').count()).toBe(1);
    await expect.poll(() => page.getByTestId('queue-running').count()).toBe(1);
    await page.waitForSelector('[data-node-id="sampler"] [data-testid="live-preview"]');
    await shot(page, '10-queue-panel-running');
    await page.getByTestId('queue-pending').locator('button').click();
    await expect.poll(() => page.getByTestId('queue-pending').count()).toBe(0);
    await page.locator('[data-testid="canvas"]').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+Alt+Enter');
    // Whichever node was running stops (the tiny model samples fast: it may be the decoder), and nothing runs on.
    await page.waitForSelector('[data-testid="node"][data-status="interrupted"]', { timeout: 30_000 });
    const interrupted = await page.locator('[data-testid="node"][data-status="interrupted"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node-id')));
    expect(interrupted).toHaveLength(1);
    expect(['sampler', 'decode', 'save']).toContain(interrupted[0]);
    expect(await page.locator('[data-testid="node"][data-status="running"]').count()).toBe(0);
    expect(await page.locator('[data-testid="output-video"]').count()).toBe(0);
    await expect.poll(() => page.locator('[data-testid="history-entry"].interrupted').count()).toBe(1);
    await expect.poll(() => page.locator('[data-testid="history-entry"].cancelled').count()).toBe(1);
    expect(await page.getByTestId('interrupt').isDisabled()).toBe(true);
    await shot(page, '11-interrupted');
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
