import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { videoFromChunks } from '../../media/frames.js';
import { addPngText, encodeImage, framesToAnimatedWebp, framesToJpegStrip, loadImage, readPngText, resizeImage, resizeVideo, saveImage, type RgbImage } from '../../media/image.js';
import { expectedCentre, meanAbsError, redCentroid, redSquareFrames, tempDir } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, data };
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [...image.data.subarray(i, i + 3)];
}

describe('loadImage', () => {
  it('loads a PNG as exact RGB24', async () => {
    const frame: RgbImage = { width: 64, height: 48, data: redSquareFrames(64, 48, 1) };
    const file = path.join(dir, 'square.png');
    await saveImage(frame, file, { format: 'png' });
    const loaded = await loadImage(file);
    expect(loaded.width).toBe(64);
    expect(loaded.height).toBe(48);
    expect(Buffer.from(loaded.data).equals(Buffer.from(frame.data))).toBe(true);
    expect(await readdir(dir)).toEqual(['square.png']);
  });

  it('turns greyscale into RGB and flattens transparency onto black', async () => {
    const grey = await sharp({ create: { width: 4, height: 2, channels: 3, background: { r: 100, g: 100, b: 100 } } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const g = await loadImage(grey);
    expect(g.data.byteLength).toBe(4 * 2 * 3);
    expect(pixel(g, 3, 1)).toEqual([100, 100, 100]);

    const halfTransparent = await sharp({ create: { width: 2, height: 2, channels: 4, background: { r: 200, g: 0, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const t = await loadImage(halfTransparent);
    expect(pixel(t, 0, 0)[0]).toBeGreaterThanOrEqual(99);
    expect(pixel(t, 0, 0)[0]).toBeLessThanOrEqual(101);
    expect(pixel(t, 0, 0).slice(1)).toEqual([0, 0]);
  });

  it('names the file when it is missing or not an image', async () => {
    const missing = path.join(dir, 'missing.png');
    await expect(loadImage(missing)).rejects.toMatchObject({ code: 'NOT_FOUND', path: missing });
    const text = path.join(dir, 'not-an-image.png');
    await writeFile(text, 'hello');
    await expect(loadImage(text)).rejects.toMatchObject({ code: 'UNREADABLE', path: text, message: expect.stringContaining(text) });
  });
});

describe('resizeImage', () => {
  // Left half red, right half blue: where each colour ends up shows which fit was applied.
  const halves: RgbImage = (() => {
    const img = solid(128, 64, [255, 0, 0]);
    for (let y = 0; y < 64; y++) for (let x = 64; x < 128; x++) img.data.set([0, 0, 255], (y * 128 + x) * 3);
    return img;
  })();

  it('stretches to the exact size', async () => {
    const out = await resizeImage(halves, 32, 32, 'stretch');
    expect([out.width, out.height, out.data.byteLength]).toEqual([32, 32, 32 * 32 * 3]);
    expect(pixel(out, 4, 16)).toEqual([255, 0, 0]);
    expect(pixel(out, 28, 16)).toEqual([0, 0, 255]);
  });

  it('crops the centre to fill the target', async () => {
    const out = await resizeImage(halves, 64, 64, 'crop'); // keeps columns 32..95
    expect(pixel(out, 2, 10)).toEqual([255, 0, 0]);
    expect(pixel(out, 61, 10)).toEqual([0, 0, 255]);
  });

  it('pads with black to fit inside the target', async () => {
    const out = await resizeImage(halves, 64, 64, 'pad'); // 64x32 picture centred vertically
    expect(pixel(out, 10, 2)).toEqual([0, 0, 0]);
    expect(pixel(out, 10, 61)).toEqual([0, 0, 0]);
    expect(pixel(out, 10, 32)).toEqual([255, 0, 0]);
    expect(pixel(out, 54, 32)).toEqual([0, 0, 255]);
  });

  it('resizes every frame of a video', async () => {
    const video = await videoFromChunks([redSquareFrames(64, 48, 8)], { width: 64, height: 48, fps: 8 }, { dir });
    const small = await resizeVideo(video, 32, 24);
    expect(small).toMatchObject({ width: 32, height: 24, fps: 8, frameCount: 8 });
    const data = await small.read(0, 8);
    for (let f = 0; f < 8; f++) {
      const c = redCentroid(data, 32, 24, f)!;
      expect(Math.abs(c.x - expectedCentre(f).x / 2)).toBeLessThanOrEqual(0.75);
      expect(Math.abs(c.y - expectedCentre(f).y / 2)).toBeLessThanOrEqual(0.75);
    }
    await Promise.all([video.dispose(), small.dispose()]);
  });
});

describe('PNG text chunks', () => {
  const text = {
    workflow: JSON.stringify({ format: 'skyloom-workflow', version: 1, nodes: [{ id: 'p', params: { text: 'a red square' } }] }),
    parameters: 'a red square\nSteps: 20, Seed: 42',
    prompt: 'un carré rouge, 赤い四角',
  };

  it('writes chunks that libpng (through sharp) and readPngText both read back, without touching pixels', async () => {
    const image: RgbImage = { width: 16, height: 16, data: redSquareFrames(16, 16, 1) };
    const png = await encodeImage(image, { format: 'png', text });
    expect(readPngText(png)).toEqual(text);
    // An independent reader: libpng drops ancillary chunks whose CRC is wrong.
    const comments = (await sharp(png).metadata()).comments ?? [];
    expect(Object.fromEntries(comments.map((c) => [c.keyword, c.text]))).toEqual(text);
    expect(Buffer.from((await loadImage(png)).data).equals(Buffer.from(image.data))).toBe(true);
    // ASCII goes in tEXt, the rest in iTXt, all before the image data.
    const s = png.toString('latin1');
    expect(s.indexOf('tEXtworkflow')).toBeGreaterThan(0);
    expect(s.indexOf('iTXtprompt')).toBeGreaterThan(0);
    expect(s.indexOf('iTXtprompt')).toBeLessThan(s.indexOf('IDAT'));
  });

  it('reads compressed zTXt and iTXt chunks written by other tools', async () => {
    const base = await encodeImage(solid(2, 2, [0, 0, 0]), { format: 'png' });
    const chunk = (type: string, data: Buffer): Buffer => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const out = Buffer.alloc(body.length + 8);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), body.length + 4);
      return out;
    };
    const ztxt = chunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.from('zipped text', 'latin1'))]));
    const itxt = chunk('iTXt', Buffer.concat([Buffer.from('Title\0\x01\0en\0Titel\0', 'latin1'), deflateSync(Buffer.from('größe ✓', 'utf8'))]));
    const iend = base.length - 12;
    const png = Buffer.concat([base.subarray(0, iend), ztxt, itxt, base.subarray(iend)]);
    expect(readPngText(png)).toEqual({ Comment: 'zipped text', Title: 'größe ✓' });
  });

  it('adds to an existing PNG and rejects what PNG cannot hold', async () => {
    const png = await readFile(
      await (async () => {
        const file = path.join(dir, 'plain.png');
        await saveImage(solid(3, 3, [1, 2, 3]), file, { format: 'png' });
        return file;
      })(),
    );
    expect(readPngText(png)).toEqual({});
    expect(readPngText(addPngText(png, { a: '1' }))).toEqual({ a: '1' });
    expect(() => addPngText(png, { ' spaced': 'x' })).toThrow(/PNG text key/);
    expect(() => addPngText(png, { ['k'.repeat(80)]: 'x' })).toThrow(/1–79/);
    expect(() => readPngText(Buffer.from('GIF89a'))).toThrow(/not a PNG/);
    await expect(encodeImage(solid(2, 2, [0, 0, 0]), { format: 'jpeg', text: { a: 'b' } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('JPEG and WebP', () => {
  it.each(['jpeg', 'webp'] as const)('encodes %s at the right size with colours close to the source', async (format) => {
    const image: RgbImage = { width: 64, height: 48, data: redSquareFrames(64, 48, 1, 5) };
    const file = path.join(dir, `square.${format}`);
    await saveImage(image, file, { format, quality: 95 });
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 64, 48]);
    const back = await loadImage(file);
    expect(meanAbsError(back.data, image.data)).toBeLessThan(6);
    const c = redCentroid(back.data, 64, 48, 0)!;
    expect(Math.abs(c.x - expectedCentre(5).x)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(c.y - expectedCentre(5).y)).toBeLessThanOrEqual(0.5);
  });
});

describe('previews', () => {
  const W = 32;
  const H = 32; // room for the square's whole path over 8 frames
  const N = 8;
  const frames = redSquareFrames(W, H, N);

  it('makes a looping animated WebP with one page per frame at the frame rate', async () => {
    const webp = await framesToAnimatedWebp(frames, { width: W, height: H, fps: 8, quality: 90 });
    const meta = await sharp(webp).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: W, height: H, pages: N, loop: 0 });
    expect(meta.delay).toEqual(Array(N).fill(125));
    for (const f of [0, N - 1]) {
      const { data } = await sharp(webp, { page: f }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const c = redCentroid(data, W, H, 0)!;
      expect(Math.abs(c.x - expectedCentre(f).x)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(c.y - expectedCentre(f).y)).toBeLessThanOrEqual(0.5);
    }
  });

  it('makes a horizontal JPEG strip of evenly picked, scaled frames', async () => {
    const jpeg = await framesToJpegStrip(frames, { width: W, height: H, count: 3, thumbHeight: 16 });
    expect((await sharp(jpeg).metadata()).format).toBe('jpeg');
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([3 * 16, 16, 3]);
    // Frames 0, 4 (rounded from 3.5) and 7, each in its own 16x16 tile at half scale.
    [0, 4, 7].forEach((f, tile) => {
      const tileData = new Uint8Array(16 * 16 * 3);
      for (let y = 0; y < 16; y++) tileData.set(data.subarray((y * 48 + tile * 16) * 3, (y * 48 + tile * 16 + 16) * 3), y * 16 * 3);
      const c = redCentroid(tileData, 16, 16, 0)!;
      expect(Math.abs(c.x - expectedCentre(f).x / 2), `tile ${tile} x`).toBeLessThanOrEqual(1);
      expect(Math.abs(c.y - expectedCentre(f).y / 2), `tile ${tile} y`).toBeLessThanOrEqual(1);
    });
  });

  it('rejects partial frames', async () => {
    await expect(framesToAnimatedWebp(frames.subarray(1), { width: W, height: H, fps: 8 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(framesToJpegStrip(new Uint8Array(0), { width: W, height: H })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
