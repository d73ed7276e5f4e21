import { readdir, stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../media/errors.js';
import { DEFAULT_MEMORY_LIMIT_BYTES, VideoHandle, VideoWriter, videoFromChunks, wholeFrames } from '../../media/frames.js';
import { tempDir } from './fixtures.js';

// A frame whose every byte depends on its index and position, so a misplaced or repeated frame shows.
function patternFrame(index: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (index * 31 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

function patternFrames(first: number, count: number, bytes: number): Uint8Array {
  const out = new Uint8Array(count * bytes);
  for (let f = 0; f < count; f++) out.set(patternFrame(first + f, bytes), f * bytes);
  return out;
}

const small = { width: 8, height: 4, fps: 10 };
const SMALL_BYTES = 8 * 4 * 3;

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function build(frames: number, memoryLimitBytes: number, first = 0): Promise<VideoHandle> {
  return videoFromChunks([patternFrames(first, frames, SMALL_BYTES)], small, { dir, memoryLimitBytes });
}

describe('VideoWriter and VideoHandle', () => {
  it('keeps a small video in memory and reads back exactly what was appended', async () => {
    const writer = new VideoWriter(small, { dir });
    await writer.append(patternFrames(0, 3, SMALL_BYTES));
    await writer.append(patternFrames(3, 2, SMALL_BYTES));
    const video = await writer.finish();
    expect(video.frameCount).toBe(5);
    expect(video.duration).toBe(0.5);
    expect(video.storage()).toEqual({ memoryBytes: 5 * SMALL_BYTES, fileBytes: 0, files: [] });
    expect(await readdir(dir)).toEqual([]);
    expect(Buffer.from(await video.read(0, 5)).equals(Buffer.from(patternFrames(0, 5, SMALL_BYTES)))).toBe(true);
    expect(Buffer.from(await video.read(2, 2)).equals(Buffer.from(patternFrames(2, 2, SMALL_BYTES)))).toBe(true);
  });

  it('copies appended chunks held in memory, so a caller may reuse its buffer', async () => {
    const writer = new VideoWriter(small, { dir });
    const buffer = patternFrames(0, 1, SMALL_BYTES);
    await writer.append(buffer);
    buffer.fill(0);
    const video = await writer.finish();
    expect(Buffer.from(await video.read(0, 1)).equals(Buffer.from(patternFrame(0, SMALL_BYTES)))).toBe(true);
  });

  it('spills 400 frames of 320x180 to one file holding every byte, and chunked reads equal what was appended', async () => {
    const info = { width: 320, height: 180, fps: 24 };
    const bytes = 320 * 180 * 3;
    expect(400 * bytes).toBeGreaterThan(DEFAULT_MEMORY_LIMIT_BYTES);
    const writer = new VideoWriter(info, { dir }); // default memory limit
    for (let f = 0; f < 400; f += 10) await writer.append(patternFrames(f, 10, bytes));
    const video = await writer.finish();

    const storage = video.storage();
    expect(storage.memoryBytes).toBe(0);
    expect(storage.fileBytes).toBe(400 * bytes);
    expect(storage.files).toHaveLength(1);
    expect(storage.files[0]!.startsWith(dir)).toBe(true);
    expect((await stat(storage.files[0]!)).size).toBe(400 * bytes);

    let frame = 0;
    for await (const chunk of video.chunks(7)) {
      const n = chunk.byteLength / bytes;
      expect(n).toBe(Math.min(7, 400 - frame));
      expect(Buffer.from(chunk).equals(Buffer.from(patternFrames(frame, n, bytes)))).toBe(true);
      frame += n;
    }
    expect(frame).toBe(400);
    expect(Buffer.from(await video.read(397, 3)).equals(Buffer.from(patternFrames(397, 3, bytes)))).toBe(true);

    await video.dispose();
    expect(await readdir(dir)).toEqual([]);
  });

  it('slices and concatenates across memory and file stores without copying', async () => {
    const onDisk = await build(10, 0); // limit 0: every frame goes to the file
    const inMemory = await build(4, 1 << 20, 10);
    expect(onDisk.storage().files).toHaveLength(1);
    expect(inMemory.storage().files).toHaveLength(0);

    const joined = VideoHandle.concat([onDisk.slice(6, 4), inMemory]);
    expect(joined.frameCount).toBe(8);
    expect(Buffer.from(await joined.read(0, 8)).equals(Buffer.from(patternFrames(6, 8, SMALL_BYTES)))).toBe(true);
    expect(Buffer.from(await joined.read(3, 2)).equals(Buffer.from(patternFrames(9, 2, SMALL_BYTES)))).toBe(true);
    const storage = joined.storage();
    expect(storage.files).toEqual(onDisk.storage().files);
    expect(storage.memoryBytes).toBe(4 * SMALL_BYTES);

    const inner = joined.slice(3, 2);
    expect(Buffer.from(await inner.read(0, 2)).equals(Buffer.from(patternFrames(9, 2, SMALL_BYTES)))).toBe(true);
  });

  it('keeps a shared file until the last handle on it is disposed', async () => {
    const video = await build(6, 0);
    const [file] = video.storage().files;
    const tail = video.slice(3, 3);
    await video.dispose();
    expect(video.disposed).toBe(true);
    await expect(video.read(0, 1)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect((await stat(file!)).size).toBe(6 * SMALL_BYTES);
    expect(Buffer.from(await tail.read(0, 3)).equals(Buffer.from(patternFrames(3, 3, SMALL_BYTES)))).toBe(true);
    await tail.dispose();
    await expect(stat(file!)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('hashes content, not how the handle was built', async () => {
    const whole = await build(6, 1 << 20);
    const spilled = await build(6, 0);
    const pieces = VideoHandle.concat([(await build(6, 0)).slice(0, 2), await build(4, 1 << 20, 2)]);
    const changed = await videoFromChunks([patternFrames(0, 5, SMALL_BYTES), patternFrame(5, SMALL_BYTES).map((b, i) => (i === 0 ? b ^ 1 : b))], small, { dir });
    const h = await whole.hash();
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(await spilled.hash()).toBe(h);
    expect(await pieces.hash()).toBe(h);
    expect(await changed.hash()).not.toBe(h);
    expect(await whole.slice(0, 5).hash()).not.toBe(h);
  });

  it('rejects partial frames, out-of-range reads, empty videos and mismatched concats', async () => {
    const writer = new VideoWriter(small, { dir });
    await expect(writer.append(new Uint8Array(SMALL_BYTES + 1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(new VideoWriter(small, { dir }).finish()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await writer.append(patternFrames(0, 2, SMALL_BYTES));
    const video = await writer.finish();
    await expect(writer.append(patternFrames(0, 1, SMALL_BYTES))).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(video.read(1, 2)).rejects.toBeInstanceOf(MediaError);
    expect(() => video.slice(0, 0)).toThrow(/at least one frame/);
    const other = await videoFromChunks([new Uint8Array(4 * 4 * 3)], { width: 4, height: 4, fps: 10 }, { dir });
    expect(() => VideoHandle.concat([video, other])).toThrow(/8x4@10.*4x4@10/);
    expect(() => new VideoWriter({ width: 0, height: 4, fps: 10 })).toThrow(MediaError);
  });

  it('leaves no file behind when building from chunks is aborted', async () => {
    const controller = new AbortController();
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let f = 0; f < 10; f++) {
        if (f === 5) controller.abort(new Error('stop here'));
        yield patternFrame(f, SMALL_BYTES);
      }
    }
    await expect(videoFromChunks(source(), small, { dir, memoryLimitBytes: 0, signal: controller.signal })).rejects.toThrow('stop here');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('wholeFrames', () => {
  async function* pieces(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
    let at = 0;
    for (const size of sizes) {
      yield bytes.subarray(at, at + size);
      at += size;
    }
  }

  it('regroups arbitrary pieces into chunks of whole frames', async () => {
    const bytes = patternFrames(0, 5, SMALL_BYTES);
    const out: Uint8Array[] = [];
    for await (const chunk of wholeFrames(pieces(bytes, [1, 100, 150, 29, 200]), SMALL_BYTES, 2)) out.push(chunk);
    expect(out.map((c) => c.byteLength)).toEqual([2 * SMALL_BYTES, 2 * SMALL_BYTES, SMALL_BYTES]);
    expect(Buffer.concat(out).equals(Buffer.from(bytes))).toBe(true);
  });

  it('fails when the stream ends inside a frame', async () => {
    const bytes = patternFrames(0, 2, SMALL_BYTES);
    const drain = async (): Promise<void> => {
      for await (const chunk of wholeFrames(pieces(bytes, [SMALL_BYTES + 10]), SMALL_BYTES, 4)) void chunk;
    };
    await expect(drain()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/10 bytes/) });
  });
});
