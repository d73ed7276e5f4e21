// Finding the ESRGAN packages, the on-disk conversion cache, and tiled upscaling with the real converted model.

import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../../models/errors.js';
import { randn } from '../../../models/random.js';
import { SessionCache } from '../../../models/session-cache.js';
import { UPSCALE_MODEL_NAMES, Upscaler, findUpscaleModel, listUpscaleModels, prepareUpscaleModel } from '../../../models/upscale/esrgan.js';
import type { FloatImage } from '../../../models/upscale/tiles.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'skyloom-upscale-cache-'));
const sessions = new SessionCache({ budgetBytes: 512 * 1024 * 1024 });

function randomImage(width: number, height: number, seed: number): FloatImage {
  const data = Float32Array.from(randn(seed, width * height * 3), (v) => Math.min(255, Math.max(0, 128 + 50 * v)));
  return { width, height, channels: 3, data };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('finding the models', () => {
  it('lists every scale of both installed packages', async () => {
    const names = (await listUpscaleModels()).map((m) => m.name);
    expect(names).toEqual([...UPSCALE_MODEL_NAMES]);
    expect(names).toContain('esrgan-slim-4x');
    expect(names).toContain('esrgan-medium-2x');
    const slim = await findUpscaleModel('esrgan-slim-3x');
    expect(slim).toMatchObject({ packageName: '@upscalerjs/esrgan-slim', scale: 3, license: 'MIT' });
    expect(slim.modelJson).toMatch(/node_modules\/@upscalerjs\/esrgan-slim\/models\/x3\/model\.json$/);
  });

  it('an unknown name lists the valid ones', async () => {
    const error = await findUpscaleModel('esrgan-huge-4x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toBe(`Unknown upscale model "esrgan-huge-4x". Should be one of: ${UPSCALE_MODEL_NAMES.join(', ')}`);
    await expect(findUpscaleModel('esrgan-slim-5x')).rejects.toThrow(/Unknown upscale model/);
  });
});

describe('the conversion cache', () => {
  it('converts once into <package>-<scale>x-<sha256>.onnx and reuses the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyloom-upscale-cache-'));
    const info = await findUpscaleModel('esrgan-slim-2x');
    const first = await prepareUpscaleModel(info, { cacheDir: dir });
    expect(first.path).toMatch(/upscalerjs-esrgan-slim-2x-[0-9a-f]{64}\.onnx$/);
    expect(first.meta).toMatchObject({ inputName: 'LR', outputName: 'SR', scale: 2, receptiveRadius: 10, source: '@upscalerjs/esrgan-slim@1.0.0' });
    const written = statSync(first.path).mtimeMs;
    const second = await prepareUpscaleModel(info, { cacheDir: dir });
    expect(second).toEqual(first);
    expect(statSync(first.path).mtimeMs).toBe(written);
    // Only the model and its sidecar: no partial files left behind.
    expect(readdirSync(dir).sort()).toEqual([first.path.split('/').pop()!.replace('.onnx', '.json'), first.path.split('/').pop()!].sort());
  });
});

describe('automatic tile size', () => {
  it('keeps the largest activation (x3 for ORT) within the budget, smaller tiles for larger scales', async () => {
    const sizes: Record<string, number> = {};
    for (const name of ['esrgan-slim-2x', 'esrgan-slim-4x', 'esrgan-slim-8x', 'esrgan-medium-4x']) {
      const u = await Upscaler.load(name, { cacheDir, sessions });
      const tile = u.autoTile();
      sizes[name] = tile;
      const side = tile + 2 * u.meta.receptiveRadius;
      if (tile > 32) expect(3 * u.meta.peakBytesPerInputPixel * side * side).toBeLessThanOrEqual(256 * 1024 * 1024);
      expect(u.autoTile(1024 ** 3)).toBeGreaterThanOrEqual(tile);
    }
    // slim 4x peaks at its 48-channel layer upsampled 4x: 48 * 16 * 4 bytes per input pixel.
    expect(sizes).toEqual({ 'esrgan-slim-2x': 398, 'esrgan-slim-4x': 150, 'esrgan-slim-8x': 32, 'esrgan-medium-4x': 134 });
  });
});

describe('Upscaler (esrgan-slim-2x, real ONNX Runtime)', () => {
  it('tiled equals the whole image within 1e-3; too little overlap does not', async () => {
    const upscaler = await Upscaler.load('esrgan-slim-2x', { cacheDir, sessions, device: 'cpu' });
    const image = randomImage(44, 30, 5);
    const whole = await upscaler.runWhole(image);
    expect([whole.width, whole.height, whole.channels]).toEqual([88, 60, 3]);
    const tiles: number[] = [];
    const tiled = await upscaler.upscaleImage(image, { tile: 16, onTile: (done) => tiles.push(done) });
    expect(tiles).toEqual([1, 2, 3, 4, 5, 6]);
    expect(maxAbsDiff(tiled.data, whole.data)).toBeLessThanOrEqual(1e-3);
    const seamy = await upscaler.upscaleImage(image, { tile: 16, overlap: 2 });
    expect(maxAbsDiff(seamy.data, whole.data)).toBeGreaterThan(0.1);
  });

  it('upscales RGB24 frames to rounded, clamped RGB24 frames, each frame on its own', async () => {
    const upscaler = await Upscaler.load('esrgan-slim-2x', { cacheDir, sessions, device: 'cpu' });
    const a = randomImage(12, 10, 1);
    const b = randomImage(12, 10, 2);
    const frames = Uint8Array.from([...a.data, ...b.data], (v) => Math.round(v));
    const out = await upscaler.upscaleFrames(frames, 12, 10, { tile: 8 });
    expect(out.length).toBe(2 * 24 * 20 * 3);
    const second = await upscaler.runWhole({ width: 12, height: 10, channels: 3, data: Float32Array.from(frames.subarray(360)) });
    const expected = Uint8Array.from(second.data, (v) => Math.min(255, Math.max(0, Math.round(v))));
    let off = 0;
    for (let i = 0; i < expected.length; i++) off = Math.max(off, Math.abs(out[1440 + i] - expected[i]));
    expect(off).toBeLessThanOrEqual(1); // tiled vs whole can round a .5 the other way
    await expect(upscaler.upscaleFrames(frames.subarray(1), 12, 10)).rejects.toThrow(/whole 12x10 RGB24 frames/);
  });
});
