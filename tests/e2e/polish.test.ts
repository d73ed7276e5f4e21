// Editor polish in headless Chromium: panning leaves text unselected, live deletion of history entries, the queue panel and missing files, collapsed node width.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEditor, shot, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.stop();
});

const node = (page: Page, id: string) => page.locator(`[data-testid="node"][data-node-id="${id}"]`);

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
