// Owns tiling for image-to-image models: splitting an HWC image into overlapping tiles and stitching the upscaled cores back seam-free.
import { ModelInputError } from '../errors.js';

/** A rectangle in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * One tile: `core` is the part of the input this tile is responsible for (the cores partition the
 * image); `padded` is the core grown by the overlap on every side, clamped to the image, which is
 * what the model sees.
 */
export interface Tile {
  core: Rect;
  padded: Rect;
}

/** An HWC float image (channels interleaved, row-major). */
export interface FloatImage {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

/**
 * Runs the model on one padded tile and returns it upscaled by the integer `scale` of
 * {@link upscaleTiled}: `(height * scale) x (width * scale)` pixels of the same channel count.
 */
export type TileRunner = (tile: FloatImage) => Promise<FloatImage>;

function checkPositive(name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) throw new ModelInputError(`${name} must be an integer >= ${min}, got ${value}`);
}

// Cuts [0, length) into n near-equal spans: a 270-px side with tile 128 becomes 90+90+90, not 128+128+14,
// so no tile is a sliver (slivers cost a full model call for few pixels).
function spans(length: number, tile: number): Array<[number, number]> {
  const n = Math.ceil(length / tile);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) out.push([Math.round((i * length) / n), Math.round(((i + 1) * length) / n)]);
  return out;
}

/**
 * Plan the tiles of a `width` x `height` image: cores of at most `tile` x `tile` pixels covering
 * the image exactly once, each padded by `overlap` pixels of context (less at the image border).
 * @throws ModelInputError for a non-positive size or tile, or a negative overlap.
 */
export function planTiles(width: number, height: number, tile: number, overlap: number): Tile[] {
  checkPositive('width', width);
  checkPositive('height', height);
  checkPositive('tile', tile);
  checkPositive('overlap', overlap, 0);
  const tiles: Tile[] = [];
  for (const [y0, y1] of spans(height, tile)) {
    for (const [x0, x1] of spans(width, tile)) {
      const px0 = Math.max(0, x0 - overlap);
      const py0 = Math.max(0, y0 - overlap);
      const px1 = Math.min(width, x1 + overlap);
      const py1 = Math.min(height, y1 + overlap);
      tiles.push({
        core: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
        padded: { x: px0, y: py0, width: px1 - px0, height: py1 - py0 },
      });
    }
  }
  return tiles;
}

/** Copy a rectangle out of an HWC image. */
export function cropImage(image: FloatImage, rect: Rect): FloatImage {
  const { channels } = image;
  const data = new Float32Array(rect.width * rect.height * channels);
  const row = rect.width * channels;
  for (let y = 0; y < rect.height; y++) {
    const from = ((rect.y + y) * image.width + rect.x) * channels;
    data.set(image.data.subarray(from, from + row), y * row);
  }
  return { width: rect.width, height: rect.height, channels, data };
}

/** Options of {@link upscaleTiled}. */
export interface TiledOptions {
  /** Core tile side in input pixels. */
  tile: number;
  /** Context pixels around each core; the model's receptive radius makes tiled equal untiled. */
  overlap: number;
  signal?: AbortSignal;
  /** Called after each tile, e.g. for progress. */
  onTile?: (done: number, total: number) => void;
}

/**
 * Upscale an HWC float image tile by tile: each padded tile goes through `run`, and only its core
 * (scaled) is kept, so there are no seams to blend and peak memory is set by the tile size, not
 * the image size. With `overlap` at least the model's receptive radius the result equals running
 * the model on the whole image (up to float rounding).
 * @throws ModelInputError for a bad tile plan or when `run` returns a tile of the wrong size.
 * @throws the signal's reason when `signal` aborts (checked before each tile).
 */
export async function upscaleTiled(image: FloatImage, scale: number, run: TileRunner, options: TiledOptions): Promise<FloatImage> {
  checkPositive('scale', scale);
  if (image.data.length !== image.width * image.height * image.channels) {
    throw new ModelInputError(`a ${image.width}x${image.height}x${image.channels} image needs ${image.width * image.height * image.channels} values, got ${image.data.length}`);
  }
  const tiles = planTiles(image.width, image.height, options.tile, options.overlap);
  const out: FloatImage = { width: image.width * scale, height: image.height * scale, channels: image.channels, data: new Float32Array(0) };
  for (const [i, { core, padded }] of tiles.entries()) {
    options.signal?.throwIfAborted();
    const result = await run(cropImage(image, padded));
    if (result.width !== padded.width * scale || result.height !== padded.height * scale) {
      throw new ModelInputError(
        `the model turned a ${padded.width}x${padded.height} tile into ${result.width}x${result.height}; a ${scale}x model should give ${padded.width * scale}x${padded.height * scale}`,
      );
    }
    if (i === 0) {
      // Allocated once the first tile tells the output channel count (an RGB model could return more or fewer).
      out.channels = result.channels;
      out.data = new Float32Array(out.width * out.height * result.channels);
    }
    const c = out.channels;
    const row = core.width * scale * c;
    const dx = (core.x - padded.x) * scale;
    const dy = (core.y - padded.y) * scale;
    for (let y = 0; y < core.height * scale; y++) {
      const from = ((dy + y) * result.width + dx) * c;
      out.data.set(result.data.subarray(from, from + row), ((core.y * scale + y) * out.width + core.x * scale) * c);
    }
    options.onTile?.(i + 1, tiles.length);
  }
  return out;
}
