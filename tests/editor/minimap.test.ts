// The minimap's geometry: the box it shows, the viewport under a transform, and pixel ↔ canvas mapping that round-trips through the area transform.

import { describe, expect, it } from 'vitest';
import { centerOn, fitAspect, mapToWorld, unionBox, viewportBox } from '../../editor/src/lib/minimap';

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
