// Minimap, collapse and node colours in headless Chromium: what the artist sees, what the file keeps, what undo restores.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEditor, ROOT, shot, startHarness, type Harness, node, openDoc, exportedDoc, areaTransform } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

type Doc = {
  version: number;
  nodes: Array<{ id: string; type: string; inputs?: Record<string, unknown>; position?: [number, number]; collapsed?: boolean; color?: string }>;
  groups?: unknown[];
};

const template = (): Doc => JSON.parse(readFileSync(join(ROOT, 'workflows', 'text-to-video.json'), 'utf8')) as Doc;

async function center(page: Page, selector: string): Promise<{ x: number; y: number }> {
  const box = (await page.locator(selector).first().boundingBox())!;
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

/** The screen points where a link's path starts and ends. */
async function linkEnds(page: Page, id: string): Promise<{ start: { x: number; y: number }; end: { x: number; y: number } }> {
  return page.locator(`[data-testid="connection"][data-link="${id}"] path`).evaluate((p: SVGPathElement) => {
    const m = p.getScreenCTM()!;
    const at = (length: number) => {
      const pt = p.getPointAtLength(length);
      return { x: pt.x * m.a + pt.y * m.c + m.e, y: pt.x * m.b + pt.y * m.d + m.f };
    };
    return { start: at(0), end: at(p.getTotalLength()) };
  });
}

const distance = (a: { x: number; y: number }, b: { x: number; y: number }) => Math.hypot(a.x - b.x, a.y - b.y);

describe('the minimap', () => {
  it('draws every node and group, follows edits and pans, moves the view where it is pressed or dragged, and stays hidden once hidden', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'text-to-video.json');
    const rects = page.getByTestId('minimap-node');
    await expect.poll(() => rects.count()).toBe(8);
    expect((await rects.evaluateAll((els) => els.map((e) => e.getAttribute('data-node-id')))).sort()).toEqual(
      ['decode', 'latent', 'model', 'negative', 'positive', 'prompt', 'sampler', 'save'].sort(),
    );
    expect(await page.getByTestId('minimap-group').count()).toBe(1);
    // Each rectangle sits where its node is: the map keeps the canvas's left-to-right order.
    const mapX = async (id: string) => Number(await page.locator(`[data-testid="minimap-node"][data-node-id="${id}"]`).getAttribute('x'));
    expect(await mapX('model')).toBeLessThan(await mapX('sampler'));
    expect(await mapX('sampler')).toBeLessThan(await mapX('save'));

    // A deleted node leaves the map.
    await node(page, 'save')
      .locator('header')
      .click({ position: { x: 60, y: 8 } });
    await page.keyboard.press('Delete');
    await expect.poll(() => rects.count()).toBe(7);
    await page.keyboard.press('Control+z');
    await expect.poll(() => rects.count()).toBe(8);

    // Panning the canvas moves the frame of the view on the map.
    const frameX = () => page.getByTestId('minimap-viewport').getAttribute('x');
    const before = await frameX();
    const canvas = (await page.getByTestId('canvas').boundingBox())!;
    // From the empty bottom right corner (Fit keeps the graph clear of the minimap, above or beside it).
    await page.mouse.move(canvas.x + canvas.width - 60, canvas.y + canvas.height - 30);
    await page.mouse.down();
    await page.mouse.move(canvas.x + canvas.width - 260, canvas.y + canvas.height - 50, { steps: 6 });
    await page.mouse.up();
    await expect.poll(frameX).not.toBe(before);
    await shot(page, 'm01-minimap');

    // A press on the save node's rectangle brings the save node to the middle of the view.
    const middle = { x: canvas.x + canvas.width / 2, y: canvas.y + canvas.height / 2 };
    const saveBefore = await center(page, '[data-testid="node"][data-node-id="save"]');
    const t0 = await areaTransform(page);
    const target = await center(page, '[data-testid="minimap-node"][data-node-id="save"]');
    await page.mouse.click(target.x, target.y);
    await expect.poll(async () => (await areaTransform(page)).x).not.toBe(t0.x);
    const saveAfter = await center(page, '[data-testid="node"][data-node-id="save"]');
    expect(distance(saveBefore, middle)).toBeGreaterThan(100);
    expect(distance(saveAfter, middle)).toBeLessThan(12);
    expect((await areaTransform(page)).k).toBe(t0.k);

    // A drag along the map follows the pointer: released over the model's rectangle, the model is in the middle.
    const from = await center(page, '[data-testid="minimap-node"][data-node-id="save"]');
    const to = await center(page, '[data-testid="minimap-node"][data-node-id="model"]');
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 5 });
    await page.mouse.up();
    await expect.poll(async () => distance(await center(page, '[data-testid="node"][data-node-id="model"]'), middle)).toBeLessThan(12);

    // Hidden, it stays hidden after a reload; Alt+M brings it back.
    await page.getByTestId('minimap-toggle').click();
    expect(await page.getByTestId('minimap').count()).toBe(0);
    await page.reload();
    await page.waitForSelector('[data-testid="ws-status"].ok');
    await expect.poll(() => page.locator('[data-testid="node"]').count()).toBe(8);
    expect(await page.getByTestId('minimap').count()).toBe(0);
    await page.keyboard.press('Alt+m');
    await expect.poll(() => rects.count()).toBe(8);
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});

describe('collapse', () => {
  it('shows only the title bar, keeps links ending at the node and its sockets taking links, survives save and load, and undoes', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    const doc = template();
    // The sampler's latent input starts unlinked, to be linked onto the collapsed node.
    delete doc.nodes.find((n) => n.id === 'sampler')!.inputs!.latent;
    await openDoc(page, doc);
    const sampler = node(page, 'sampler');
    await expect.poll(() => sampler.count()).toBe(1);
    await page.getByTestId('fit').click();
    const open = (await sampler.boundingBox())!;
    expect(await sampler.locator('[data-param="steps"] input').isVisible()).toBe(true);

    // Where a link ends relative to its socket's dot (the link plugin draws it a little outside).
    const dot = (side: 'input' | 'output', key: string) => center(page, `[data-testid="node"][data-node-id="sampler"] [data-${side}="${key}"] .sk-socket`);
    const offIn = await (async () => {
      const d = await dot('input', 'positive');
      const e = (await linkEnds(page, 'positive.conditioning->sampler.positive')).end;
      return { x: e.x - d.x, y: e.y - d.y };
    })();
    const offOut = await (async () => {
      const d = await dot('output', 'latent');
      const s = (await linkEnds(page, 'sampler.latent->decode.latent')).start;
      return { x: s.x - d.x, y: s.y - d.y };
    })();

    await sampler.getByTestId('collapse').click();
    await expect.poll(() => sampler.getAttribute('class')).toContain('collapsed');
    expect(await sampler.locator('[data-param="steps"] input').isVisible()).toBe(false);
    expect(await sampler.locator('.ports').isVisible()).toBe(false);
    await expect.poll(async () => (await sampler.boundingBox())!.height).toBeLessThan(open.height / 3);
    // In the minimap too, the sampler is now a thin bar.
    await expect
      .poll(async () => Number(await page.locator('[data-testid="minimap-node"][data-node-id="sampler"]').getAttribute('height')))
      .toBeLessThan(open.height / (await areaTransform(page)).k / 3);

    // The sockets sit on the bar's edges at its middle, and the links in and out end at them.
    const endsOnBar = async () => {
      const box = (await sampler.boundingBox())!;
      const mid = box.y + box.height / 2;
      const dotIn = await dot('input', 'positive');
      const dotOut = await dot('output', 'latent');
      const into = (await linkEnds(page, 'positive.conditioning->sampler.positive')).end;
      const out = (await linkEnds(page, 'sampler.latent->decode.latent')).start;
      return [
        distance(dotIn, { x: box.x, y: mid }) < 3 && distance(into, { x: dotIn.x + offIn.x, y: dotIn.y + offIn.y }) < 3,
        distance(dotOut, { x: box.x + box.width, y: mid }) < 3 && distance(out, { x: dotOut.x + offOut.x, y: dotOut.y + offOut.y }) < 3,
      ];
    };
    await expect.poll(endsOnBar).toEqual([true, true]);
    await shot(page, 'm02-collapsed');

    // A latent dragged onto the collapsed node links to its latent input (the one free slot of that type).
    const socket = await center(page, '[data-testid="node"][data-node-id="latent"] [data-output="latent"] .sk-socket');
    const bar = (await sampler.boundingBox())!;
    await page.mouse.move(socket.x, socket.y);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(socket.x + ((bar.x - socket.x) * i) / 8, socket.y + ((bar.y + bar.height / 2 - socket.y) * i) / 8);
    await page.mouse.up();
    await expect.poll(() => page.locator('[data-testid="connection"][data-link="latent.latent->sampler.latent"]').count()).toBe(1);

    const saved = await exportedDoc<Doc>(page);
    expect(saved.version).toBe(3);
    expect(saved.nodes.find((n) => n.id === 'sampler')).toMatchObject({ collapsed: true, inputs: { latent: { node: 'latent', output: 'latent' } } });
    expect(saved.nodes.find((n) => n.id === 'decode')!.collapsed).toBeUndefined();

    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => sampler.count()).toBe(0);
    await openDoc(page, saved);
    await expect.poll(() => sampler.getAttribute('class')).toContain('collapsed');
    expect(await sampler.locator('[data-param="steps"] input').isVisible()).toBe(false);
    await expect.poll(endsOnBar).toEqual([true, true]);

    // Expanded from the node menu, then undone: collapsed again, with the links back on the bar.
    await sampler.locator('header').click({ button: 'right', position: { x: 60, y: 8 } });
    await page.getByText('Expand', { exact: false }).first().click();
    await expect.poll(() => sampler.getAttribute('class')).not.toContain('collapsed');
    expect(await sampler.locator('[data-param="steps"] input').isVisible()).toBe(true);
    const expanded = (await sampler.boundingBox())!;
    const row = await dot('input', 'positive');
    await expect.poll(async () => distance((await linkEnds(page, 'positive.conditioning->sampler.positive')).end, { x: row.x + offIn.x, y: row.y + offIn.y })).toBeLessThan(3);
    expect(expanded.height).toBeGreaterThan(open.height / 2);
    await page.keyboard.press('Control+z');
    await expect.poll(() => sampler.getAttribute('class')).toContain('collapsed');
    await expect.poll(endsOnBar).toEqual([true, true]);
    // Alt+C on the selection toggles too.
    await sampler.locator('header').click({ position: { x: 60, y: 8 } });
    await page.keyboard.press('Alt+c');
    await expect.poll(() => sampler.getAttribute('class')).not.toContain('collapsed');
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});

describe('node colours', () => {
  it('colours a node from the menu, keeps the colour in the file and through a reload, and undoes it', async () => {
    const { page, context, errors } = await openEditor(h);
    page.on('dialog', (d) => void d.accept());
    await page.selectOption('[data-testid="new-menu"]', 'text-to-video.json');
    const decode = node(page, 'decode');
    await expect.poll(() => decode.count()).toBe(1);
    const headColor = () => decode.locator('header').evaluate((el) => getComputedStyle(el).backgroundImage);
    const plain = await headColor();

    await decode.locator('header').click({ button: 'right', position: { x: 60, y: 8 } });
    await page.getByText('Colour', { exact: true }).hover();
    await page.getByText('Green', { exact: true }).click();
    await expect.poll(() => decode.getAttribute('class')).toContain('colored');
    // #357a44 is rgb(53, 122, 68): the title bar starts with it.
    await expect.poll(headColor).toContain('rgb(53, 122, 68)');
    expect(plain).not.toContain('rgb(53, 122, 68)');
    expect(await page.locator('[data-testid="minimap-node"][data-node-id="decode"]').getAttribute('fill')).toBe('#357a44');
    await shot(page, 'm03-coloured');

    const saved = await exportedDoc<Doc>(page);
    expect(saved.nodes.find((n) => n.id === 'decode')!.color).toBe('#357a44');
    expect(saved.nodes.filter((n) => n.color !== undefined).map((n) => n.id)).toEqual(['decode']);

    // Kept by the draft across a reload, and by a file opened again.
    await page.reload();
    await page.waitForSelector('[data-testid="ws-status"].ok');
    await expect.poll(headColor).toContain('rgb(53, 122, 68)');
    await page.selectOption('[data-testid="new-menu"]', '__empty');
    await expect.poll(() => decode.count()).toBe(0);
    await openDoc(page, saved);
    await expect.poll(headColor).toContain('rgb(53, 122, 68)');

    // Recoloured, then undone: green again; undone once more from a fresh file there is nothing to undo.
    await decode.locator('header').click({ button: 'right', position: { x: 60, y: 8 } });
    await page.getByText('Colour', { exact: true }).hover();
    await page.getByText('Purple', { exact: true }).click();
    await expect.poll(headColor).toContain('rgb(104, 68, 156)');
    await page.keyboard.press('Control+z');
    await expect.poll(headColor).toContain('rgb(53, 122, 68)');
    await decode.locator('header').click({ button: 'right', position: { x: 60, y: 8 } });
    await page.getByText('Colour', { exact: true }).hover();
    await page.getByText('No colour', { exact: true }).click();
    await expect.poll(() => decode.getAttribute('class')).not.toContain('colored');
    expect(await headColor()).toBe(plain);
    await page.keyboard.press('Control+z');
    await expect.poll(headColor).toContain('rgb(53, 122, 68)');
    expect(errors).toEqual([]);
    await context.close();
  }, 90_000);
});
