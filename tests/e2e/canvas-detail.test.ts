// How much of each node the canvas draws, in headless Chromium: the far form when zoomed out, culled off screen, whole again in view, links always at their sockets.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Workflow } from '../../engine/index.js';
import { ROOT, openEditor, shot, startHarness, type Harness, node, areaTransform } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const FAR_LINK = 'sampler.latent->far.latent';

/** The default workflow plus a second decoder and save 5,000 px to the right, fed by the same sampler. */
function spreadGraph(): Workflow {
  const doc = JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;
  const decode = doc.nodes.find((n) => n.id === 'decode')!;
  const save = doc.nodes.find((n) => n.id === 'save')!;
  doc.nodes.push({ ...decode, id: 'far', title: 'Far decoder', params: { chunk: 3 }, position: [5200, 200] });
  doc.nodes.push({ ...save, id: 'far-save', inputs: { video: { node: 'far', output: 'video' } }, position: [5500, 200] });
  return doc;
}

/** The end point of a link's path, in canvas coordinates (the path lives inside the zoomed layer). */
async function linkEnd(page: Page, id: string): Promise<{ x: number; y: number }> {
  const d = (await page.locator(`[data-testid="connection"][data-link="${id}"] path`).getAttribute('d')) ?? '';
  const nums = d
    .trim()
    .split(/[\s,MC]+/)
    .filter(Boolean)
    .map(Number);
  return { x: nums.at(-2)!, y: nums.at(-1)! };
}

/** The centre of a node's input socket, in canvas coordinates. */
async function socketCenter(page: Page, nodeId: string, input: string): Promise<{ x: number; y: number }> {
  return page.evaluate(
    ({ nodeId, input }) => {
      const layer = document.querySelector('.sk-group-layer')!.parentElement as HTMLElement;
      const [, tx, ty, k] = /translate\(([-0-9.]+)px, ([-0-9.]+)px\) scale\(([0-9.]+)\)/.exec(layer.style.transform)!.map(Number);
      const origin = layer.parentElement!.getBoundingClientRect();
      const socket = document.querySelector(`[data-node-id="${nodeId}"] [data-input="${input}"] .sk-socket, [data-node-id="${nodeId}"] [data-param-row="${input}"] .sk-socket`)!;
      const r = socket.getBoundingClientRect();
      return { x: (r.left + r.width / 2 - origin.left - tx!) / k!, y: (r.top + r.height / 2 - origin.top - ty!) / k! };
    },
    { nodeId, input },
  );
}

/** A point on the empty canvas (no node, no link under it), to drag the view from. */
async function emptyPoint(page: Page): Promise<{ x: number; y: number }> {
  const box = (await page.getByTestId('canvas').boundingBox())!;
  const found = await page.evaluate((b) => {
    for (let y = b.y + b.height - 20; y > b.y + 20; y -= 25) {
      for (let x = b.x + b.width - 20; x > b.x + 20; x -= 25) {
        const el = document.elementFromPoint(x, y);
        if (el && !el.closest('.sk-node, path, .sk-group, button, [data-testid="context-menu"]') && el.closest('[data-testid="canvas"]')) return { x, y };
      }
    }
    return undefined;
  }, box);
  if (!found) throw new Error('no empty spot on the canvas to drag from');
  return found;
}

/** Zooms in with the wheel at a page point until the zoom is about natural size. */
async function zoomInAt(page: Page, at: { x: number; y: number }): Promise<void> {
  await page.mouse.move(at.x, at.y);
  for (let i = 0; i < 40 && (await areaTransform(page)).k < 0.95; i++) await page.mouse.wheel(0, -120);
}

/** Opens the spread graph as a dropped file, on an empty canvas. */
async function openSpread(page: Page): Promise<void> {
  await page.selectOption('[data-testid="new-menu"]', '__empty');
  await page.evaluate((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], 'spread.json', { type: 'application/json' }));
    document.querySelector('.app')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, JSON.stringify(spreadGraph()));
  await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(10);
}

describe('node detail on a large canvas', () => {
  it('draws far-out nodes as title bars, culls nodes off screen and brings them back whole, with links at their sockets throughout', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await openSpread(page);

    // Opened at fit, far out: every node is a title bar on a box of its size; no sockets, no widgets.
    await expect.poll(async () => (await areaTransform(page)).k).toBeLessThan(0.4);
    await expect.poll(() => node(page, 'far').getAttribute('data-detail')).toBe('far');
    await expect.poll(() => page.locator('[data-testid="node"][data-detail="far"]').count()).toBe(10);
    expect(await node(page, 'far').locator('.title').textContent()).toBe('Far decoder');
    expect(await node(page, 'far').locator('.sk-socket').count()).toBe(0);
    expect(await node(page, 'far').locator('[data-param-row]').count()).toBe(0);
    await shot(page, 'detail-01-far');
    const endFar = await linkEnd(page, FAR_LINK);
    const kFar = (await areaTransform(page)).k;
    const sizeFar = (await node(page, 'far').boundingBox())!;

    // In close on the default workflow: its nodes whole, the decoder 5,000 px away culled to an empty box.
    const model = (await node(page, 'model').boundingBox())!;
    await zoomInAt(page, { x: model.x + model.width / 2, y: model.y + model.height / 2 });
    await expect.poll(() => node(page, 'model').getAttribute('data-detail')).toBe('full');
    await expect.poll(() => node(page, 'far').getAttribute('data-detail')).toBe('culled');
    expect(await node(page, 'far').locator('*').count()).toBe(0);
    expect(await node(page, 'sampler').locator('[data-param-row="steps"] input').inputValue()).toBe('20');
    await expect.poll(() => node(page, 'decode').getAttribute('data-detail')).toBe('full');
    const decodeSockets = await node(page, 'decode').locator('.sk-socket').count();
    const decodeRows = await node(page, 'decode').locator('[data-param-row]').count();
    expect(decodeSockets).toBeGreaterThan(1);
    // The culled node keeps its box, and its link still ends where its socket was.
    expect((await areaTransform(page)).k).toBeGreaterThan(0.9);
    const sizeCulled = await node(page, 'far').evaluate((el: HTMLElement) => ({ width: el.offsetWidth, height: el.offsetHeight }));
    expect(sizeCulled.height).toBeGreaterThan(100);
    expect(Math.abs(sizeCulled.width - sizeFar.width / kFar)).toBeLessThan(2);
    expect(Math.abs(sizeCulled.height - sizeFar.height / kFar)).toBeLessThan(2);
    const endCulled = await linkEnd(page, FAR_LINK);
    expect(Math.abs(endCulled.x - endFar.x)).toBeLessThan(0.5);
    expect(Math.abs(endCulled.y - endFar.y)).toBeLessThan(0.5);

    // Dragged across the canvas to the decoder: it is drawn whole again, at the same size, with its
    // params and its socket where the link ends.
    for (let i = 0; i < 20; i++) {
      const far = (await node(page, 'far').boundingBox())!;
      const canvas = (await page.getByTestId('canvas').boundingBox())!;
      if (far.x + far.width < canvas.x + canvas.width - 40) break;
      const from = await emptyPoint(page);
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      for (let s = 1; s <= 5; s++) await page.mouse.move(from.x - s * 140, from.y);
      await page.mouse.up();
    }
    await expect.poll(() => node(page, 'far').getAttribute('data-detail')).toBe('full');
    await expect.poll(() => node(page, 'far').locator('.sk-socket').count()).toBe(decodeSockets);
    expect(await node(page, 'far').locator('[data-param-row]').count()).toBe(decodeRows);
    const sizeFull = await node(page, 'far').evaluate((el: HTMLElement) => ({ width: el.offsetWidth, height: el.offsetHeight }));
    expect(sizeFull).toEqual(sizeCulled);
    const socket = await socketCenter(page, 'far', 'latent');
    const endFull = await linkEnd(page, FAR_LINK);
    // Links end 12 canvas px outside the socket's centre (Rete's classic overhang).
    expect(Math.abs(endFull.x - (socket.x - 12))).toBeLessThan(1);
    expect(Math.abs(endFull.y - socket.y)).toBeLessThan(1);
    expect(Math.abs(endFull.x - endFar.x)).toBeLessThan(0.5);
    expect(Math.abs(endFull.y - endFar.y)).toBeLessThan(0.5);
    // Back on the far side of the canvas, the default workflow is culled in turn.
    await expect.poll(() => node(page, 'model').getAttribute('data-detail')).toBe('culled');
    await shot(page, 'detail-02-back-in-view');

    // The node brought back shows its own values and takes edits.
    const chunk = node(page, 'far').locator('[data-param-row="chunk"] input').first();
    expect(await chunk.inputValue()).toBe('3');
    await chunk.fill('4');
    await chunk.press('Tab');
    expect(await chunk.inputValue()).toBe('4');
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('a node collapsed while drawn far out is measured again: its far box is the title bar and its link ends at the bar', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await openSpread(page);
    await expect.poll(() => node(page, 'far').getAttribute('data-detail')).toBe('far');
    const tall = await node(page, 'far').evaluate((el: HTMLElement) => el.offsetHeight);
    await node(page, 'far').getByTestId('collapse').click();
    await expect.poll(() => node(page, 'far').getAttribute('class')).toContain('collapsed');
    // Drawn whole for a frame to be measured, then far again, at the collapsed height.
    await expect.poll(() => node(page, 'far').getAttribute('data-detail')).toBe('far');
    await expect.poll(() => node(page, 'far').evaluate((el: HTMLElement) => el.offsetHeight)).toBeLessThan(tall / 2);
    const height = await node(page, 'far').evaluate((el: HTMLElement) => el.offsetHeight);
    // Collapsed, the inputs sit on the left edge (inside its 1 px border) at mid-height; the link
    // ends 12 px outside. The node is at 5200, 200.
    await expect.poll(async () => Math.abs((await linkEnd(page, FAR_LINK)).x - (5200 + 1 - 12))).toBeLessThan(0.5);
    expect(Math.abs((await linkEnd(page, FAR_LINK)).y - (200 + height / 2))).toBeLessThan(1);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});
