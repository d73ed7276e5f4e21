// The minimap's geometry: the box it shows, the viewport under a transform, and pixel ↔ canvas mapping that round-trips through the area transform.

import { describe, expect, it } from 'vitest';
import { centerOn, fitAround, fitAspect, mapToWorld, unionBox, viewportBox } from '../../editor/src/lib/minimap';

describe('minimap geometry', () => {
  it('finds the canvas rectangle a view shows', () => {
    // At scale 2, shifted by (100, -40): the screen's top left is canvas (-50, 20), and 800 × 600 screen pixels are 400 × 300 canvas units.
    expect(viewportBox({ x: 100, y: -40, k: 2 }, 800, 600)).toEqual({ x: -50, y: 20, w: 400, h: 300 });
  });

  it('unions boxes with padding, and has none for no boxes', () => {
    expect(
      unionBox(
        [
          { x: 0, y: 0, w: 10, h: 10 },
          { x: 50, y: -20, w: 5, h: 5 },
        ],
        2,
      ),
    ).toEqual({ x: -2, y: -22, w: 59, h: 34 });
    expect(unionBox([])).toBeUndefined();
  });

  it('grows a box about its centre to the map aspect, never shrinking it', () => {
    expect(fitAspect({ x: 0, y: 0, w: 100, h: 100 }, 200, 100)).toEqual({ x: -50, y: 0, w: 200, h: 100 });
    expect(fitAspect({ x: 0, y: 0, w: 400, h: 100 }, 200, 100)).toEqual({ x: 0, y: -50, w: 400, h: 200 });
  });

  it('maps a map pixel to the canvas and centres the view on it', () => {
    const world = { x: -100, y: 50, w: 440, h: 300 };
    const [wx, wy] = mapToWorld(110, 75, world, 220, 150);
    expect([wx, wy]).toEqual([120, 200]);
    const k = 0.5;
    const t = centerOn(wx, wy, k, 1000, 600);
    // The point now shows at the view's middle.
    expect([wx * k + t.x, wy * k + t.y]).toEqual([500, 300]);
    const view = viewportBox({ ...t, k }, 1000, 600);
    expect([view.x + view.w / 2, view.y + view.h / 2]).toEqual([120, 200]);
  });
});

describe('fit around the minimap', () => {
  const limits = { min: 0.15, max: 2.5 };
  const map = { x: 10, y: 450, w: 236, h: 166 }; // bottom left of a 1000 × 620 view, with its gap
  const onScreen = (c: { x: number; y: number; w: number; h: number }, t: { x: number; y: number; k: number }) => ({
    x: c.x * t.k + t.x,
    y: c.y * t.k + t.y,
    w: c.w * t.k,
    h: c.h * t.k,
  });
  const apart = (a: { x: number; y: number; w: number; h: number }, b: typeof a) => a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;

  it('keeps the plain centred fit when the content already clears the minimap', () => {
    // A wide, flat graph: fitted to the width it sits in the middle band, above the map.
    const content = { x: 0, y: 0, w: 2000, h: 200 };
    const t = fitAround(content, 1000, 620, map, 0.92, limits);
    expect(t.k).toBeCloseTo(0.46, 6);
    expect(t.x).toBeCloseTo(40, 6);
    expect(t.y).toBeCloseTo(264, 6);
    expect(apart(onScreen(content, t), map)).toBe(true);
  });

  it('moves a graph that would lie under the minimap beside it, at the largest scale that stays clear', () => {
    // A graph nearly as tall as wide: the centred fit (k 0.57) reaches the bottom left corner where the map is.
    const content = { x: 0, y: 0, w: 1400, h: 1000 };
    expect(apart(onScreen(content, fitAround(content, 1000, 620, undefined, 0.92, limits)), map)).toBe(false);
    const t = fitAround(content, 1000, 620, map, 0.92, limits);
    expect(apart(onScreen(content, t), map)).toBe(true);
    // Right of the map (754 × 620 px) gives scale 0.92 × 754/1400 = 0.50; above it (1000 × 450) only 0.92 × 0.45 = 0.41.
    expect(t.k).toBeCloseTo((0.92 * 754) / 1400, 6);
    expect(onScreen(content, t).x).toBeGreaterThanOrEqual(map.x + map.w);
  });

  it('keeps the whole-view fit when nothing clears the map at the minimum zoom', () => {
    const content = { x: 0, y: 0, w: 20000, h: 20000 };
    const t = fitAround(content, 1000, 620, map, 0.92, limits);
    expect(t.k).toBe(0.15);
    expect(t).toEqual(fitAround(content, 1000, 620, undefined, 0.92, limits));
  });
});
