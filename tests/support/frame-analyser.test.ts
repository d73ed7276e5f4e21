import { describe, expect, it } from 'vitest';
import { analyseFrames } from './frame-analyser.js';

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
});
