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
    const a = analyseFrames(clip(64, 64, 16, [230, 40, 40], [0, 0, 0], (f) => ({ x: 44 - 2 * f, y: 26, s: 12 })), 64, 64, 16);
    expect(a.colour).toBe('red');
    expect(a.motion).toBe('moving left');
    const b = analyseFrames(clip(64, 112, 16, [50, 90, 255], [110, 110, 110], (f) => ({ x: 26, y: 10 + 4 * f, s: 12 })), 64, 112, 16);
    expect([b.colour, b.motion]).toEqual(['blue', 'moving down']);
  });

  it('tells growing from standing still', () => {
    const g = analyseFrames(clip(64, 64, 16, [250, 220, 40], [15, 25, 90], (f) => ({ x: 32 - f, y: 32 - f, s: 6 + 2 * f })), 64, 64, 16);
    expect([g.colour, g.motion]).toEqual(['yellow', 'growing']);
    const s = analyseFrames(clip(64, 64, 16, [40, 220, 230], [0, 0, 0], () => ({ x: 20, y: 20, s: 16 })), 64, 64, 16);
    expect([s.colour, s.motion]).toEqual(['cyan', 'standing still']);
  });
});
