// Tile planning and stitching, with a pure-TS stand-in model whose receptive radius is known.

import { describe, expect, it } from 'vitest';
import { ModelInputError } from '../../../models/errors.js';
import { planTiles, upscaleTiled, type FloatImage } from '../../../models/upscale/tiles.js';

/** A fake 2x "model": a 3x3 box blur (zero padding, so radius 1) then nearest-neighbour 2x. */
async function blurThenDouble(img: FloatImage): Promise<FloatImage> {
  const { width: w, height: h, channels: c } = img;
  const out = new Float32Array(w * 2 * h * 2 * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy >= 0 && yy < h && xx >= 0 && xx < w) sum += img.data[(yy * w + xx) * c + k];
          }
        for (let sy = 0; sy < 2; sy++) for (let sx = 0; sx < 2; sx++) out[((y * 2 + sy) * w * 2 + x * 2 + sx) * c + k] = sum / 9;
      }
  return { width: w * 2, height: h * 2, channels: c, data: out };
}

function randomImage(width: number, height: number, channels = 3): FloatImage {
  let s = 12345;
  const data = new Float32Array(width * height * channels).map(() => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255);
  return { width, height, channels, data };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('planTiles', () => {
  it('covers every pixel with exactly one core, pads each core by the overlap inside the image', () => {
    const [w, h] = [37, 23];
    const tiles = planTiles(w, h, 10, 3);
    const hits = new Uint8Array(w * h);
    for (const { core, padded } of tiles) {
      for (let y = core.y; y < core.y + core.height; y++) for (let x = core.x; x < core.x + core.width; x++) hits[y * w + x]++;
      expect(padded.x).toBe(Math.max(0, core.x - 3));
      expect(padded.y).toBe(Math.max(0, core.y - 3));
      expect(padded.x + padded.width).toBe(Math.min(w, core.x + core.width + 3));
      expect(padded.y + padded.height).toBe(Math.min(h, core.y + core.height + 3));
      expect(core.width).toBeLessThanOrEqual(10);
      expect(core.height).toBeLessThanOrEqual(10);
    }
    expect([...hits].every((n) => n === 1)).toBe(true);
  });

  it('splits a side into near-equal spans instead of leaving a sliver', () => {
    const tiles = planTiles(480, 270, 128, 10);
    expect([...new Set(tiles.map((t) => t.core.height))]).toEqual([90]);
    expect([...new Set(tiles.map((t) => t.core.width))]).toEqual([120]);
    expect(tiles).toHaveLength(12);
  });

  it('rejects a zero tile and a negative overlap', () => {
    expect(() => planTiles(10, 10, 0, 2)).toThrow(ModelInputError);
    expect(() => planTiles(10, 10, 4, -1)).toThrow(/overlap/);
  });
});

describe('upscaleTiled', () => {
  const image = randomImage(29, 17);

  it('equals the whole-image result when the overlap reaches the receptive radius', async () => {
    const whole = await blurThenDouble(image);
    const tiled = await upscaleTiled(image, 2, blurThenDouble, { tile: 8, overlap: 1 });
    expect(tiled.width).toBe(58);
    expect(tiled.height).toBe(34);
    expect(maxDiff(tiled.data, whole.data)).toBeLessThan(1e-3);
  });

  it('shows seams when the overlap is below the radius (so the test above can fail)', async () => {
    const whole = await blurThenDouble(image);
    const tiled = await upscaleTiled(image, 2, blurThenDouble, { tile: 8, overlap: 0 });
    expect(maxDiff(tiled.data, whole.data)).toBeGreaterThan(1);
  });

  it('reports each tile and stops when the signal aborts', async () => {
    const seen: string[] = [];
    await upscaleTiled(image, 2, blurThenDouble, { tile: 16, overlap: 1, onTile: (d, t) => seen.push(`${d}/${t}`) });
    expect(seen).toEqual(['1/4', '2/4', '3/4', '4/4']);
    const controller = new AbortController();
    let calls = 0;
    const run = async (t: FloatImage) => {
      if (++calls === 2) controller.abort(new Error('stop'));
      return blurThenDouble(t);
    };
    await expect(upscaleTiled(image, 2, run, { tile: 8, overlap: 1, signal: controller.signal })).rejects.toThrow('stop');
    expect(calls).toBe(2);
  });

  it('names the sizes when the model returns a tile of the wrong scale', async () => {
    await expect(upscaleTiled(image, 3, blurThenDouble, { tile: 8, overlap: 1 })).rejects.toThrow(/a 3x model should give/);
  });
});
