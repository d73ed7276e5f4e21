import { describe, expect, it } from 'vitest';
import { matchSeams, seamWeights } from '../../media/seam.js';

// One "frame" is 4 bytes here: enough to see per-pixel behaviour without images.
const FB = 4;
const window = (values: number[][]) => Uint8Array.from(values.flat());
const frameAt = (w: Uint8Array, j: number) => Array.from(w.subarray(j * FB, (j + 1) * FB));

describe('seam weights', () => {
  it('fall linearly from an anchor to the far end of the window', () => {
    // head anchor at 3 in an 8-frame window: frames 4..7 get 3/4, 2/4, 1/4, 0
    expect([4, 5, 6, 7].map((j) => seamWeights(j, 8, [3])[0])).toEqual([0.75, 0.5, 0.25, 0]);
    // tail anchor at 4: frames 0..3 get 0, 1/4, 2/4, 3/4
    expect([0, 1, 2, 3].map((j) => seamWeights(j, 8, [4])[0])).toEqual([0, 0.25, 0.5, 0.75]);
    expect(seamWeights(3, 8, [3])).toEqual([1]);
  });

  it('hand over between two anchors', () => {
    expect(seamWeights(5, 12, [3, 7])).toEqual([0.5, 0.5]);
    expect(seamWeights(4, 12, [3, 7])).toEqual([0.75, 0.25]);
    expect(seamWeights(7, 12, [3, 7])).toEqual([0, 1]);
    // outside the pair, each anchor fades to the window's edge on its own side
    expect(seamWeights(9, 12, [3, 7])).toEqual([0, 0.5]);
    expect(seamWeights(1, 12, [3, 7])[0]).toBeCloseTo(1 / 3, 12);
    expect(seamWeights(1, 12, [3, 7])[1]).toBe(0);
  });
});

describe('matchSeams', () => {
  it('shows the anchor exactly and carries its residual into the generated frames, fading out', () => {
    // The decoder reproduced the known frame 100 as 90 (error +10); generated frames are 90, 92, 94, 96.
    const w = window([
      [90, 90, 90, 90],
      [90, 90, 90, 90],
      [92, 92, 92, 92],
      [94, 94, 94, 94],
      [96, 96, 96, 96],
    ]);
    const original = Uint8Array.from([100, 100, 100, 100]);
    matchSeams(w, FB, [{ index: 1, original }]);
    expect(frameAt(w, 1)).toEqual([100, 100, 100, 100]);
    // residual 10 with weights 2/3, 1/3, 0 after the anchor; 0 at frame 0 before it
    expect(frameAt(w, 2)).toEqual([99, 99, 99, 99]);
    expect(frameAt(w, 3)).toEqual([97, 97, 97, 97]);
    expect(frameAt(w, 4)).toEqual([96, 96, 96, 96]);
    expect(frameAt(w, 0)).toEqual([90, 90, 90, 90]);
  });

  it('makes the join the decoded frame step, whatever the VAE error at the anchor', () => {
    const decoded = window([
      [50, 60, 70, 80],
      [52, 61, 69, 83],
      [54, 62, 68, 86],
      [56, 63, 67, 89],
    ]);
    const original = Uint8Array.from([80, 20, 130, 0]); // far from the decoded anchor
    const w = Uint8Array.from(decoded);
    matchSeams(w, FB, [{ index: 0, original }]);
    const step = (x: Uint8Array, a: number, b: number) => frameAt(x, b).map((v, i) => v - frameAt(x, a)[i]);
    expect(frameAt(w, 0)).toEqual(Array.from(original));
    expect(step(w, 0, 1)).toEqual(step(decoded, 0, 1).map((d, i) => d + Math.round((2 / 3 - 1) * (original[i] - decoded[i]))));
    expect(frameAt(w, 3)).toEqual(frameAt(decoded, 3));
  });

  it('clamps to 0..255 instead of wrapping', () => {
    const w = window([
      [250, 5, 0, 0],
      [255, 0, 0, 0],
      [255, 0, 0, 0],
    ]);
    matchSeams(w, FB, [{ index: 0, original: Uint8Array.from([255, 0, 0, 0]) }]);
    expect(frameAt(w, 1)).toEqual([255, 0, 0, 0]);
  });

  it('names a bad anchor', () => {
    const w = new Uint8Array(3 * FB);
    expect(() => matchSeams(w, FB, [{ index: 3, original: new Uint8Array(FB) }])).toThrow(/seam anchor 3 is outside the 3-frame window/);
    expect(() => matchSeams(w, FB, [{ index: 0, original: new Uint8Array(2) }])).toThrow(/seam anchor 0 has 2 bytes/);
    expect(() => matchSeams(new Uint8Array(5), FB, [])).not.toThrow();
  });
});
