// Shared fixtures for the media tests: a moving red square on black, and a way to find it again.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const SQUARE = 12;

/** Top-left corner of the square in frame `f`: it moves 2 px right and 1 px down per frame. */
export function squareAt(f: number): { x: number; y: number } {
  return { x: 4 + 2 * f, y: 8 + f };
}

/** `count` RGB24 frames of `width` x `height`, black with a red SQUARE x SQUARE square at squareAt(f). */
export function redSquareFrames(width: number, height: number, count: number, first = 0): Uint8Array {
  const out = new Uint8Array(width * height * 3 * count);
  for (let i = 0; i < count; i++) {
    const { x: x0, y: y0 } = squareAt(first + i);
    for (let y = y0; y < y0 + SQUARE && y < height; y++) {
      for (let x = x0; x < x0 + SQUARE && x < width; x++) {
        out[((i * height + y) * width + x) * 3] = 255;
      }
    }
  }
  return out;
}

/** Centre of the red pixels of frame `index` (red clearly above green and blue), or undefined if none. */
export function redCentroid(frames: Uint8Array, width: number, height: number, index: number): { x: number; y: number } | undefined {
  let sx = 0;
  let sy = 0;
  let n = 0;
  const base = index * width * height * 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = base + (y * width + x) * 3;
      if (frames[i]! > 128 && frames[i + 1]! < 100 && frames[i + 2]! < 100) {
        sx += x;
        sy += y;
        n++;
      }
    }
  }
  return n === 0 ? undefined : { x: sx / n, y: sy / n };
}

/** The centre squareAt(f) should have: its corner plus half the side, less half a pixel. */
export function expectedCentre(f: number): { x: number; y: number } {
  const { x, y } = squareAt(f);
  return { x: x + (SQUARE - 1) / 2, y: y + (SQUARE - 1) / 2 };
}

export function meanAbsError(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) throw new Error(`length ${a.byteLength} != ${b.byteLength}`);
  let sum = 0;
  for (let i = 0; i < a.byteLength; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.byteLength;
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'skyloom-media-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
