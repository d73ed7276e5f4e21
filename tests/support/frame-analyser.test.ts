import { describe, expect, it } from 'vitest';
import { analyseFrames, shapeOf } from './frame-analyser.js';

// Draws a filled square per frame; the analyser must recover its colour and motion.
function clip(w: number, h: number, n: number, colour: number[], bg: number[], at: (f: number) => { x: number; y: number; s: number }): Uint8Array {
  const out = new Uint8Array(w * h * n * 3);
  for (let f = 0; f < n; f++) {
    const { x, y, s } = at(f);
    for (let yy = 0; yy < h; yy++) {
      for (let xx = 0; xx < w; xx++) {
        const inside = xx >= x && xx < x + s && yy >= y && yy < y + s;
        const p = ((f * h + yy) * w + xx) * 3;
        out.set(inside ? colour : bg, p);
      }
    }
  }
  return out;
}

describe('analyseFrames', () => {
  it('finds colour and direction of a moving square', () => {
    const a = analyseFrames(
      clip(64, 64, 16, [230, 40, 40], [0, 0, 0], (f) => ({ x: 44 - 2 * f, y: 26, s: 12 })),
      64,
      64,
      16,
    );
    expect(a.colour).toBe('red');
    expect(a.motion).toBe('moving left');
    const b = analyseFrames(
      clip(64, 112, 16, [50, 90, 255], [110, 110, 110], (f) => ({ x: 26, y: 10 + 4 * f, s: 12 })),
      64,
      112,
      16,
    );
    expect([b.colour, b.motion]).toEqual(['blue', 'moving down']);
  });

  it('tells growing from standing still', () => {
    const g = analyseFrames(
      clip(64, 64, 16, [250, 220, 40], [15, 25, 90], (f) => ({ x: 32 - f, y: 32 - f, s: 6 + 2 * f })),
      64,
      64,
      16,
    );
    expect([g.colour, g.motion]).toEqual(['yellow', 'growing']);
    const s = analyseFrames(
      clip(64, 64, 16, [40, 220, 230], [0, 0, 0], () => ({ x: 20, y: 20, s: 16 })),
      64,
      64,
      16,
    );
    expect([s.colour, s.motion]).toEqual(['cyan', 'standing still']);
  });

  it('names the colour of the object, not of the edges that blend it into the background', () => {
    // A yellow core of 8x8 inside a 4-pixel ring a quarter of the way from navy to yellow (foreground,
    // but blended): the ring has three times the core's pixels and drags the foreground's mean away.
    const yellow = [250, 220, 40];
    const navy = [15, 25, 90];
    const ring = yellow.map((c, i) => Math.round(navy[i]! + (c - navy[i]!) / 4));
    const square = clip(64, 64, 4, ring, navy, () => ({ x: 24, y: 24, s: 16 }));
    const core = clip(64, 64, 4, yellow, navy, () => ({ x: 28, y: 28, s: 8 }));
    const frames = square.map((v, i) => (core[i] !== navy[i % 3] ? core[i]! : v));
    const a = analyseFrames(frames, 64, 64, 4);
    expect(a.colour).toBe('yellow');
    expect(a.meanColour[1]).toBeLessThan(120); // the blended mean: yellow's green channel is 220
    expect(a.frames[0]!.area).toBeCloseTo((16 * 16) / (64 * 64)); // the ring is foreground
  });

  it('keeps the colour and the path of an object that leaves by the edge of the frame', () => {
    // A red square on black leaving by the left edge, and a blue one on a vertical gradient leaving
    // by the right: with the row's background read from its end pixels, the rows the object
    // crossed at the edge took its colour as their background and voted for another colour.
    const left = analyseFrames(
      clip(64, 64, 8, [230, 40, 40], [0, 0, 0], (f) => ({ x: 10 - 3 * f, y: 26, s: 14 })),
      64,
      64,
      8,
    );
    expect([left.colour, left.motion]).toEqual(['red', 'moving left']);
    const gradient = clip(64, 64, 8, [50, 90, 255], [0, 0, 0], (f) => ({ x: 36 + 3 * f, y: 20, s: 16 }));
    for (let i = 0; i < gradient.length; i += 3) {
      if (gradient[i + 2] === 0) gradient.set([40, 60 + (Math.floor(i / 192) % 64), 30], i);
    }
    const right = analyseFrames(gradient, 64, 64, 8);
    expect([right.colour, right.motion]).toEqual(['blue', 'moving right']);
    // An object wider than half the frame, off the edges: the row's median is the object's colour,
    // so the ends, not the median, are the background.
    const wide = analyseFrames(
      clip(64, 64, 4, [50, 90, 255], [15, 70, 30], () => ({ x: 8, y: 8, s: 46 })),
      64,
      64,
      4,
    );
    expect(wide.colour).toBe('blue');
    // Grown to more than half the frame and reaching its left edge (skyloom-tiny 2.3's blue
    // triangle at second 23 of long-60s): in those rows the median is the object's colour too, so
    // the row above, whose ends agree, tells which end is background.
    const grown = analyseFrames(
      clip(64, 64, 4, [50, 90, 255], [15, 70, 30], () => ({ x: 0, y: 20, s: 44 })),
      64,
      64,
      4,
    );
    expect(grown.colour).toBe('blue');
  });

  it('names the shape the way the training evaluation does (analyse.py)', () => {
    // Each shape drawn at 2 px per frame to the right, 20 px across, on a 64x112 frame over a
    // vertical gradient: the judge must not lean on a square frame or a flat background.
    const [w, h, n] = [64, 112, 12];
    const star = Array.from({ length: 10 }, (_, k) => {
      const r = k % 2 ? 4.2 : 10;
      const a = -Math.PI / 2 + (k * Math.PI) / 5;
      return [r * Math.cos(a), r * Math.sin(a)];
    });
    const inPolygon = (px: number, py: number, poly: number[][]) => {
      let inside = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i]!;
        const [xj, yj] = poly[j]!;
        if (yi! > py !== yj! > py && px < ((xj! - xi!) * (py - yi!)) / (yj! - yi!) + xi!) inside = !inside;
      }
      return inside;
    };
    const shapes: Record<string, (dx: number, dy: number) => boolean> = {
      circle: (dx, dy) => dx * dx + dy * dy <= 100,
      square: (dx, dy) => Math.abs(dx) <= 9 && Math.abs(dy) <= 9,
      triangle: (dx, dy) =>
        inPolygon(dx, dy, [
          [0, -10],
          [10, 8],
          [-10, 8],
        ]),
      star: (dx, dy) => inPolygon(dx, dy, star),
    };
    for (const [name, inside] of Object.entries(shapes)) {
      const rgb = new Uint8Array(w * h * n * 3);
      for (let f = 0; f < n; f++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const bg = [40 + y, 20 + y / 3, 80 - y / 3];
            rgb.set(inside(x + 0.5 - (16 + 2 * f), y + 0.5 - 50) ? [250, 220, 40] : bg, ((f * h + y) * w + x) * 3);
          }
      expect(shapeOf(rgb, w, h, n), name).toBe(name);
    }
    expect(shapeOf(new Uint8Array(64 * 64 * 4 * 3), 64, 64, 4)).toBeNull(); // nothing to judge
  });
});
