// Owns still images through sharp: loading to RGB24, exact-size resizing, saving PNG (with text chunks) / JPEG / WebP, and preview images.

import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, inflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { MediaError } from './errors.js';
import type { Rgb } from './ffmpeg.js';
import { VideoHandle, VideoWriter, type FrameStoreOptions, type VideoInfo } from './frames.js';

/** One RGB24 picture: `width * height * 3` bytes, row-major, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * How an image meets a target size of another aspect ratio: `stretch` distorts it, `crop` fills the
 * target and cuts the overflow (centred), `pad` fits it inside and fills the rest with black (centred).
 */
export type FitMode = 'stretch' | 'crop' | 'pad';

const SHARP_FIT = { stretch: 'fill', crop: 'cover', pad: 'contain' } as const;
const BLACK = { r: 0, g: 0, b: 0 };

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface ImageEncodeOptions {
  format: ImageFormat;
  /** JPEG and WebP quality 1–100; default 90. Ignored for PNG (lossless). */
  quality?: number;
  /** PNG text chunks, key → value (e.g. `workflow` → JSON, `parameters` → text). PNG only. */
  text?: Record<string, string>;
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new MediaError('INVALID_ARGUMENT', `image width and height must be positive integers, got ${width}x${height}`);
  }
  if (data.byteLength !== width * height * 3) {
    throw new MediaError('INVALID_ARGUMENT', `a ${width}x${height} RGB24 image has ${width * height * 3} bytes, got ${data.byteLength}`);
  }
}

function fromRgb(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  // sRGB + 8-bit makes greyscale, CMYK and 16-bit sources come out as plain RGB24 too.
  const { data, info } = await pipeline.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

const NAMED_COLOURS: Record<string, string> = { black: '000000', white: 'ffffff', gray: '808080', grey: '808080' };

/**
 * Reads a colour written as `#rrggbb` (or `rrggbb`, or black / white / gray).
 * @throws {MediaError} INVALID_ARGUMENT naming the text when it is none of these.
 */
export function parseColour(text: string): Rgb {
  const hex = NAMED_COLOURS[text.trim().toLowerCase()] ?? text.trim().replace(/^#/, '');
  if (!/^[0-9a-f]{6}$/i.test(hex)) {
    throw new MediaError('INVALID_ARGUMENT', `"${text}" is not a colour; write it as #rrggbb (e.g. #000000 for black) or black, white, gray`);
  }
  return { r: parseInt(hex.slice(0, 2), 16), g: parseInt(hex.slice(2, 4), 16), b: parseInt(hex.slice(4, 6), 16) };
}

/**
 * Loads any image sharp reads (PNG, JPEG, WebP, GIF's first frame, TIFF, AVIF, ...) as RGB24:
 * turned upright by its EXIF orientation, transparency composited onto `options.background`
 * (default black).
 * @throws {MediaError} NOT_FOUND for a missing file; UNREADABLE when it is not an image.
 */
export async function loadImage(source: string | Uint8Array, options: { background?: Rgb } = {}): Promise<RgbImage> {
  const file = typeof source === 'string' ? source : undefined;
  if (file !== undefined) {
    await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new MediaError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO_FAILED', `cannot open the image: ${err.message}`, file, {
        cause: err,
      });
    });
  }
  try {
    return await toRgb(
      sharp(source)
        .autoOrient()
        .flatten({ background: options.background ?? BLACK }),
    );
  } catch (err) {
    throw new MediaError('UNREADABLE', `not an image sharp can read: ${(err as Error).message}`, file, { cause: err });
  }
}

/**
 * Resizes to exactly `width` x `height` with a Lanczos-3 kernel, meeting another aspect ratio by `fit`.
 * @throws {MediaError} INVALID_ARGUMENT for a malformed image or a non-positive size.
 */
export async function resizeImage(image: RgbImage, width: number, height: number, fit: FitMode = 'stretch'): Promise<RgbImage> {
  checkImage(image);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new MediaError('INVALID_ARGUMENT', `target size must be positive integers, got ${width}x${height}`);
  }
  if (!Object.hasOwn(SHARP_FIT, fit)) {
    throw new MediaError('INVALID_ARGUMENT', `Unsupported fit "${fit}". Should be one of: stretch, crop, pad`);
  }
  return toRgb(fromRgb(image).resize(width, height, { fit: SHARP_FIT[fit], kernel: 'lanczos3', background: BLACK }));
}

/**
 * Resizes every frame of a video (as {@link resizeImage}), one frame at a time, into a new handle.
 * @throws {MediaError} as {@link resizeImage} and {@link VideoWriter}.
 * @throws the signal's reason when `options.signal` aborts (nothing is kept).
 */
export async function resizeVideo(
  video: VideoHandle,
  width: number,
  height: number,
  options: FrameStoreOptions & { fit?: FitMode; signal?: AbortSignal } = {},
): Promise<VideoHandle> {
  const writer = new VideoWriter({ width, height, fps: video.fps }, options);
  try {
    for await (const chunk of video.chunks()) {
      for (let offset = 0; offset < chunk.byteLength; offset += video.frameBytes) {
        options.signal?.throwIfAborted();
        const frame = { width: video.width, height: video.height, data: chunk.subarray(offset, offset + video.frameBytes) };
        await writer.append((await resizeImage(frame, width, height, options.fit)).data);
      }
    }
    return await writer.finish();
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/**
 * Encodes an image as PNG (with optional text chunks), JPEG or WebP.
 * @throws {MediaError} INVALID_ARGUMENT for a malformed image, a quality outside 1–100, text with a
 *   format other than PNG, or a text key PNG cannot hold.
 */
export async function encodeImage(image: RgbImage, options: ImageEncodeOptions): Promise<Buffer> {
  checkImage(image);
  const { format, quality = 90, text } = options;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new MediaError('INVALID_ARGUMENT', `quality must be an integer from 1 to 100, got ${quality}`);
  }
  if (text !== undefined && format !== 'png') {
    throw new MediaError('INVALID_ARGUMENT', `text chunks are a PNG feature; ${format} cannot carry them`);
  }
  switch (format) {
    case 'png': {
      const png = await fromRgb(image).png().toBuffer();
      return text === undefined ? png : addPngText(png, text);
    }
    case 'jpeg':
      return fromRgb(image).jpeg({ quality }).toBuffer();
    case 'webp':
      return fromRgb(image).webp({ quality }).toBuffer();
    default:
      throw new MediaError('INVALID_ARGUMENT', `Unsupported image format "${String(format)}". Should be one of: png, jpeg, webp`);
  }
}

/**
 * Encodes an image (as {@link encodeImage}) and writes it to `outPath` through a temporary file
 * renamed at the end, so a failure leaves no partial file.
 * @throws {MediaError} as {@link encodeImage}; IO_FAILED when the file cannot be written.
 */
export async function saveImage(image: RgbImage, outPath: string, options: ImageEncodeOptions): Promise<void> {
  const bytes = await encodeImage(image, options);
  const partial = path.join(path.dirname(path.resolve(outPath)), `.${path.basename(outPath)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await mkdir(path.dirname(partial), { recursive: true });
    await writeFile(partial, bytes);
    await rename(partial, outPath);
  } catch (err) {
    await rm(partial, { force: true });
    throw new MediaError('IO_FAILED', `cannot write the image: ${(err as Error).message}`, outPath, { cause: err });
  }
}

// ---- PNG text chunks (PNG spec §11.3.4: tEXt, zTXt, iTXt) ----
// sharp writes no arbitrary text chunks, and the format is small enough to do here: a chunk is
// length (4 bytes, big-endian) + type (4) + data + CRC-32 of type and data (4).

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Keywords are 1–79 printable Latin-1 characters without leading or trailing spaces.
const PNG_KEYWORD = /^[\x21-\x7e\xa1-\xff](?:[\x20-\x7e\xa1-\xff]{0,77}[\x21-\x7e\xa1-\xff])?$/;

function* pngChunks(png: Uint8Array, file?: string): Generator<{ type: string; start: number; data: Buffer }> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.byteLength < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new MediaError('UNREADABLE', 'not a PNG (bad signature)', file);
  }
  let at = 8;
  while (at + 12 <= buf.byteLength) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > buf.byteLength) throw new MediaError('UNREADABLE', `truncated PNG chunk ${type}`, file);
    yield { type, start: at, data: buf.subarray(at + 8, at + 8 + length) };
    if (type === 'IEND') return;
    at += 12 + length;
  }
  throw new MediaError('UNREADABLE', 'PNG ends without an IEND chunk', file);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.byteLength);
  out.writeUInt32BE(data.byteLength, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.byteLength)), 8 + data.byteLength);
  return out;
}

function textChunk(key: string, value: string): Buffer {
  if (!PNG_KEYWORD.test(key)) {
    throw new MediaError('INVALID_ARGUMENT', `PNG text key "${key}" must be 1–79 printable Latin-1 characters, not starting or ending with a space`);
  }
  // tEXt is Latin-1 and many readers decode it as UTF-8, so it is used for ASCII only; anything else
  // (a prompt in Japanese, an accented word) goes in iTXt, which is UTF-8 by definition.
  // eslint-disable-next-line no-control-regex -- \x01-\x7f is the ASCII that tEXt carries safely
  if (/^[\x01-\x7f]*$/.test(value)) {
    return pngChunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')]));
  }
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, text.
  return pngChunk('iTXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]));
}

/**
 * Returns a copy of a PNG with text chunks added before its image data (so readers that stop early
 * still find them). ASCII values go in tEXt chunks, others in uncompressed UTF-8 iTXt chunks.
 * @throws {MediaError} UNREADABLE when the bytes are not a PNG; INVALID_ARGUMENT for a key PNG cannot hold.
 */
export function addPngText(png: Uint8Array, text: Record<string, string>): Buffer {
  const chunks = Object.entries(text).map(([k, v]) => textChunk(k, v));
  for (const chunk of pngChunks(png)) {
    if (chunk.type === 'IDAT') {
      return Buffer.concat([png.subarray(0, chunk.start), ...chunks, png.subarray(chunk.start)]);
    }
  }
  throw new MediaError('UNREADABLE', 'PNG has no image data (IDAT chunk)');
}

/**
 * Reads the text chunks of a PNG (tEXt, zTXt, and iTXt compressed or not) as key → value; a key
 * that appears twice keeps its last value. `file`, when given, is named in errors.
 * @throws {MediaError} UNREADABLE when the bytes are not a well-formed PNG.
 */
export function readPngText(png: Uint8Array, file?: string): Record<string, string> {
  const text: Record<string, string> = {};
  for (const { type, data } of pngChunks(png, file)) {
    if (type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt') continue;
    const keyEnd = data.indexOf(0);
    if (keyEnd < 1) throw new MediaError('UNREADABLE', `${type} chunk without a keyword`, file);
    const key = data.toString('latin1', 0, keyEnd);
    if (type === 'tEXt') {
      text[key] = data.toString('latin1', keyEnd + 1);
    } else if (type === 'zTXt') {
      text[key] = inflateSync(data.subarray(keyEnd + 2)).toString('latin1');
    } else {
      const compressed = data[keyEnd + 1] === 1;
      const languageEnd = data.indexOf(0, keyEnd + 3);
      const translatedEnd = data.indexOf(0, languageEnd + 1);
      if (languageEnd < 0 || translatedEnd < 0) throw new MediaError('UNREADABLE', `malformed iTXt chunk "${key}"`, file);
      const body = data.subarray(translatedEnd + 1);
      text[key] = (compressed ? inflateSync(body) : body).toString('utf8');
    }
  }
  return text;
}

// ---- Live previews ----

function frameCountOf(frames: Uint8Array, info: { width: number; height: number }): number {
  const bytes = info.width * info.height * 3;
  if (frames.byteLength === 0 || frames.byteLength % bytes !== 0) {
    throw new MediaError('INVALID_ARGUMENT', `frames must be one or more whole ${info.width}x${info.height} RGB24 frames (${bytes} bytes each), got ${frames.byteLength} bytes`);
  }
  return frames.byteLength / bytes;
}

/**
 * Encodes RGB24 frames as a looping animated WebP, for live previews of small videos (the frames
 * are held in memory). WebP delays are whole milliseconds per frame; libwebp merges identical
 * consecutive frames into one longer frame, so the page count can be lower than the frame count.
 * @throws {MediaError} INVALID_ARGUMENT for partial frames, a non-positive fps or a quality outside 1–100.
 */
export async function framesToAnimatedWebp(frames: Uint8Array, options: VideoInfo & { quality?: number }): Promise<Buffer> {
  const { width, height, fps, quality = 75 } = options;
  const count = frameCountOf(frames, options);
  if (!Number.isFinite(fps) || fps <= 0) throw new MediaError('INVALID_ARGUMENT', `fps must be a positive number, got ${fps}`);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new MediaError('INVALID_ARGUMENT', `quality must be an integer from 1 to 100, got ${quality}`);
  }
  // sharp treats a tall image with pageHeight as a stack of animation frames.
  return (
    sharp(frames, { raw: { width, height: height * count, channels: 3, pageHeight: height } })
      // One delay per frame: a single number sets only the first frame's delay in sharp 0.35.
      .webp({ quality, loop: 0, delay: Array<number>(count).fill(Math.round(1000 / fps)) })
      .toBuffer()
  );
}

/**
 * A horizontal JPEG strip of `count` frames picked evenly from first to last (default: all),
 * each scaled to `thumbHeight` pixels high (default: unscaled), for live previews.
 * @throws {MediaError} INVALID_ARGUMENT for partial frames or a non-positive count, thumbHeight or quality.
 */
export async function framesToJpegStrip(frames: Uint8Array, options: { width: number; height: number; count?: number; thumbHeight?: number; quality?: number }): Promise<Buffer> {
  const { width, height, thumbHeight = height, quality = 80 } = options;
  const total = frameCountOf(frames, options);
  const count = Math.min(options.count ?? total, total);
  for (const [name, value] of Object.entries({ count, thumbHeight, quality })) {
    if (!Number.isInteger(value) || value < 1) throw new MediaError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  }
  if (quality > 100) throw new MediaError('INVALID_ARGUMENT', `quality must be at most 100, got ${quality}`);
  const row = width * 3;
  const strip = Buffer.alloc(count * row * height);
  for (let i = 0; i < count; i++) {
    const frame = count === 1 ? 0 : Math.round((i * (total - 1)) / (count - 1));
    for (let y = 0; y < height; y++) {
      const from = (frame * height + y) * row;
      strip.set(frames.subarray(from, from + row), (y * count + i) * row);
    }
  }
  // One resize of the whole strip to count × thumbWidth keeps each frame on exact thumbWidth columns.
  const thumbWidth = Math.max(1, Math.round((width * thumbHeight) / height));
  return fromRgb({ width: width * count, height, data: strip })
    .resize(thumbWidth * count, thumbHeight, { fit: 'fill', kernel: 'lanczos3' })
    .jpeg({ quality })
    .toBuffer();
}
