import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaError } from '../../media/errors.js';
import { decodeVideo, encodeVideo, ffmpegPath, probe, type FrameStream } from '../../media/ffmpeg.js';
import { videoFromChunks, type VideoHandle } from '../../media/frames.js';
import { expectedCentre, meanAbsError, redCentroid, redSquareFrames, tempDir } from './fixtures.js';

// Tiny on purpose: the CPU is shared, and 64x48 x 24 frames exercises every path.
const W = 64;
const H = 48;
const N = 24;
const FPS = 24;
const frames = redSquareFrames(W, H, N);

function stream(chunkFrames = 5, data = frames, info = { width: W, height: H, fps: FPS }): FrameStream {
  const bytes = info.width * info.height * 3;
  return {
    ...info,
    frames: (function* () {
      for (let at = 0; at < data.byteLength; at += chunkFrames * bytes) yield data.subarray(at, at + chunkFrames * bytes);
    })(),
  };
}

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const handles: VideoHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.dispose()));
});

/**
 * A stand-in ffmpeg that runs `script` for an encode. fluent-ffmpeg first asks the binary for its
 * formats and encoders (once per process), and those questions go to the real ffmpeg.
 */
async function fakeFfmpeg(name: string, script: string): Promise<string> {
  const file = path.join(dir, name);
  const real = ffmpegPath();
  await writeFile(file, `#!/bin/sh\ncase "$1" in -formats|-encoders) exec '${real}' "$@";; esac\n${script}\n`, { mode: 0o755 });
  return file;
}

async function decoded(file: string, options: Parameters<typeof decodeVideo>[1] = {}): Promise<VideoHandle> {
  const video = await decodeVideo(file, { dir, ...options });
  handles.push(video);
  return video;
}

function expectSquareTracked(data: Uint8Array, width: number, height: number, count: number, tolerance: number): void {
  for (let f = 0; f < count; f++) {
    const c = redCentroid(data, width, height, f);
    const e = expectedCentre(f);
    expect(c, `frame ${f}`).toBeDefined();
    expect(Math.abs(c!.x - e.x), `frame ${f} x`).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(c!.y - e.y), `frame ${f} y`).toBeLessThanOrEqual(tolerance);
  }
}

describe('encodeVideo + probe + decodeVideo', () => {
  it('writes a browser-ready mp4: H.264, yuv420p, exact size, frame count and fps, faststart', async () => {
    const out = path.join(dir, 'red.mp4');
    await encodeVideo(stream(), out, { format: 'mp4' });
    const info = await probe(out);
    expect(info).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: W, height: H, frameCount: N, fps: FPS });
    expect(info.fpsFraction).toEqual({ num: 24, den: 1 });
    expect(info.duration).toBeCloseTo(1, 2);
    expect(info.container).toContain('mp4');
    // faststart puts the moov (index) atom before mdat (the media data).
    const bytes = await readFile(out);
    expect(bytes.indexOf('moov')).toBeGreaterThan(0);
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
  });

  it('round-trips mp4 frames: small mean error, the red square where it was in every frame', async () => {
    const out = path.join(dir, 'roundtrip.mp4');
    await encodeVideo(stream(), out, { format: 'mp4' });
    const video = await decoded(out);
    expect(video).toMatchObject({ width: W, height: H, fps: FPS, frameCount: N });
    const data = await video.read(0, N);
    expect(meanAbsError(data, frames)).toBeLessThan(3);
    expectSquareTracked(data, W, H, N, 0.5);
  });

  it('round-trips webm (VP9, yuv420p) frames, odd sizes included', async () => {
    const out = path.join(dir, 'roundtrip.webm');
    await encodeVideo(stream(), out, { format: 'webm' });
    const info = await probe(out);
    expect(info).toMatchObject({ codec: 'vp9', pixFmt: 'yuv420p', width: W, height: H, frameCount: N, fps: FPS });
    const data = await (await decoded(out)).read(0, N);
    expect(meanAbsError(data, frames)).toBeLessThan(4);
    expectSquareTracked(data, W, H, N, 0.5);

    const odd = path.join(dir, 'odd.webm');
    await encodeVideo(stream(4, redSquareFrames(65, 47, 4), { width: 65, height: 47, fps: 12 }), odd, { format: 'webm' });
    expect(await probe(odd)).toMatchObject({ width: 65, height: 47, frameCount: 4, fps: 12 });
  });

  it('writes a gif through a palette; its centisecond delays make ffprobe report 25 fps for 24', async () => {
    const out = path.join(dir, 'red.gif');
    await encodeVideo(stream(), out, { format: 'gif' });
    const info = await probe(out);
    expect(info).toMatchObject({ codec: 'gif', width: W, height: H, frameCount: N, fps: 25 });
    expect(info.tags).toEqual({});
    // Each frame's time is within half a centisecond of f/24, so resampling at 24 recovers them 1:1.
    const video = await decoded(out, { fps: FPS });
    expect(video.frameCount).toBe(N);
    const data = await video.read(0, N);
    expect(meanAbsError(data, frames)).toBeLessThan(1);
    expectSquareTracked(data, W, H, N, 0);
  });

  it('encodes from a spilled handle as from a stream', async () => {
    const video = await videoFromChunks([frames], { width: W, height: H, fps: FPS }, { dir, memoryLimitBytes: 0 });
    handles.push(video);
    expect(video.storage().files).toHaveLength(1);
    const out = path.join(dir, 'from-handle.mp4');
    await encodeVideo(video, out, { format: 'mp4', crf: 10 });
    expect(await probe(out)).toMatchObject({ frameCount: N, width: W, height: H });
    expect(meanAbsError(await (await decoded(out)).read(0, N), frames)).toBeLessThan(3);
  });

  it('decodes with resampling and scaling, and spills large decodes to disk', async () => {
    const out = path.join(dir, 'resample.mp4');
    await encodeVideo(stream(), out, { format: 'mp4' });
    const half = await decoded(out, { fps: 12, size: { width: 32, height: 24 } });
    expect(half).toMatchObject({ width: 32, height: 24, fps: 12, frameCount: 12 });
    const data = await half.read(0, 12);
    for (let f = 0; f < 12; f++) {
      const c = redCentroid(data, 32, 24, f)!;
      const e = expectedCentre(2 * f);
      expect(Math.abs(c.x - e.x / 2)).toBeLessThanOrEqual(1);
      expect(Math.abs(c.y - e.y / 2)).toBeLessThanOrEqual(1);
    }

    const spilled = await decoded(out, { memoryLimitBytes: 0 });
    expect(spilled.storage()).toMatchObject({ memoryBytes: 0, fileBytes: N * W * H * 3 });
    expect(await spilled.hash()).toBe(await (await decoded(out)).hash());
  });

  it('decodes a video that asks to be turned 90° at its displayed size', async () => {
    const plain = path.join(dir, 'unrotated.mp4');
    const rotated = path.join(dir, 'rotated.mp4');
    await encodeVideo(stream(4, redSquareFrames(W, H, 3)), plain, { format: 'mp4' });
    // The 2018 ffmpeg writes the rotation (display matrix) only when copying the stream.
    await promisify(execFile)(ffmpegPath(), ['-v', 'error', '-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', '-y', rotated]);
    const info = await probe(rotated);
    expect([info.width, info.height, info.frameCount]).toEqual([48, 64, 3]);
    expect(await decoded(rotated)).toMatchObject({ width: 48, height: 64, frameCount: 3 });
  });

  it('streams frames into ffmpeg with backpressure: a stalled ffmpeg stalls the producer', async () => {
    // A stand-in ffmpeg that never reads its stdin: only what fits in the kernel's buffer for the
    // pipe (a ~208 KiB socket pair under libuv) and one chunk may leave the producer: about 23
    // frames of 9 KiB, not all 1000.
    const stalled = await fakeFfmpeg('stalled-ffmpeg.sh', 'sleep 1\necho "gave up" >&2\nexit 1');
    let produced = 0;
    const bytes = W * H * 3;
    const source: FrameStream = {
      width: W,
      height: H,
      fps: FPS,
      frames: (function* () {
        for (; produced < 1000; produced++) yield frames.subarray(0, bytes);
      })(),
    };
    const saved = process.env.SKYLOOM_FFMPEG;
    process.env.SKYLOOM_FFMPEG = stalled;
    try {
      await expect(encodeVideo(source, path.join(dir, 'stalled', 'x.mp4'), { format: 'mp4' })).rejects.toThrow(/gave up/);
    } finally {
      if (saved === undefined) delete process.env.SKYLOOM_FFMPEG;
      else process.env.SKYLOOM_FFMPEG = saved;
    }
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(100);
  });
});

describe('metadata', () => {
  const metadata = {
    title: 'A red square',
    comment: 'made by Skyloom',
    ai_generated: 'true',
    workflow: JSON.stringify({ format: 'skyloom-workflow', prompt: 'a red square; =#\\ moves', lang: '日本語' }),
    parameters: 'a red square\nSteps: 20, Seed: 42',
  };

  it.each(['mp4', 'webm'] as const)('keeps custom and multi-line keys in %s', async (format) => {
    const out = path.join(dir, `meta.${format}`);
    await encodeVideo(stream(), out, { format, metadata });
    expect((await probe(out)).tags).toMatchObject(metadata);
  });

  it('keeps a value up to the 128 KiB ffmpeg can take per key, and refuses a larger one', async () => {
    const out = path.join(dir, 'big-meta.mp4');
    const workflow = JSON.stringify({ nodes: Array.from({ length: 1600 }, (_, i) => ({ id: `n${i}`, text: 'a red square '.repeat(4) })) });
    expect(workflow.length).toBeGreaterThan(100_000);
    expect(workflow.length).toBeLessThan(128 * 1024 - 10);
    await encodeVideo(stream(), out, { format: 'mp4', metadata: { workflow } });
    expect((await probe(out)).tags.workflow).toBe(workflow);

    const tooBig = path.join(dir, 'too-big-meta.mp4');
    await expect(encodeVideo(stream(), tooBig, { format: 'mp4', metadata: { workflow: workflow.repeat(2) } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/metadata "workflow" is \d+ bytes, over the 131071/),
    });
  });

  it('rejects a key ffmpeg containers cannot hold', async () => {
    await expect(encodeVideo(stream(), path.join(dir, 'bad-key.mp4'), { format: 'mp4', metadata: { 'a key': 'x' } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('failures leave nothing behind', () => {
  async function outputsIn(sub: string): Promise<string[]> {
    return readdir(path.join(dir, sub)).catch(() => []);
  }

  it('aborting mid-encode kills ffmpeg and removes the half-written file', async () => {
    for (const format of ['mp4', 'webm', 'gif'] as const) {
      const sub = `aborted-${format}`;
      const controller = new AbortController();
      const reason = new Error('user pressed stop');
      let sawPartial = false;
      const bytes = W * H * 3;
      const source: FrameStream = {
        width: W,
        height: H,
        fps: FPS,
        frames: (async function* () {
          for (let f = 0; f < 200; f++) {
            if (f === 12) {
              // Abort only once ffmpeg has opened its output, so there is a half-written file to clean up.
              // (gif first stores the stream, so no ffmpeg runs yet and no file appears.)
              for (let i = 0; i < 1000 && format !== 'gif' && !sawPartial; i++) {
                await new Promise((resolve) => setTimeout(resolve, 10));
                sawPartial = (await outputsIn(sub)).some((name) => name.endsWith('.partial'));
              }
              controller.abort(reason);
            }
            yield frames.subarray((f % N) * bytes, ((f % N) + 1) * bytes);
          }
        })(),
      };
      const out = path.join(dir, sub, `stop.${format}`);
      // gif stores the stream first; memoryLimitBytes 0 puts that store on disk in the same folder.
      const options = { format, signal: controller.signal, dir: path.join(dir, sub), memoryLimitBytes: 0 };
      await expect(encodeVideo(source, out, options)).rejects.toBe(reason);
      expect(sawPartial).toBe(format !== 'gif');
      expect(await outputsIn(sub)).toEqual([]);
    }
  });

  it('aborting a gif encode from a handle, between its two ffmpeg passes, leaves nothing', async () => {
    const video = await videoFromChunks([frames], { width: W, height: H, fps: FPS }, { dir });
    handles.push(video);
    const controller = new AbortController();
    const out = path.join(dir, 'aborted-gif-handle', 'stop.gif');
    // The palette pass reads every chunk once; abort when the second pass starts reading.
    let reads = 0;
    const chunks = video.chunks.bind(video);
    video.chunks = async function* (chunkFrames?: number) {
      if (++reads === 2) controller.abort(new Error('stop'));
      yield* chunks(chunkFrames);
    };
    await expect(encodeVideo(video, out, { format: 'gif', signal: controller.signal })).rejects.toThrow('stop');
    expect(reads).toBe(2);
    expect(await outputsIn('aborted-gif-handle')).toEqual([]);
  });

  it('a partial frame in the stream fails the encode and leaves nothing', async () => {
    const out = path.join(dir, 'partial', 'bad.mp4');
    const bad = stream(5, frames.subarray(0, W * H * 3 * 3 + 7));
    await expect(encodeVideo(bad, out, { format: 'mp4' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await outputsIn('partial')).toEqual([]);
  });

  it('refuses odd sizes for mp4 with a message that says what to do', async () => {
    const out = path.join(dir, 'odd', 'odd.mp4');
    const odd = stream(4, redSquareFrames(65, 48, 4), { width: 65, height: 48, fps: 12 });
    await expect(encodeVideo(odd, out, { format: 'mp4' })).rejects.toThrow(/even width and height.*65x48.*66x48/);
    expect(await outputsIn('odd')).toEqual([]);
  });

  it('reports an ffmpeg failure with its stderr and the output path, and a missing binary by its path', async () => {
    const fake = await fakeFfmpeg('fake-ffmpeg.sh', 'echo "Unknown encoder \'libx264\'" >&2\nexit 1');
    const out = path.join(dir, 'fail', 'x.mp4');
    const saved = process.env.SKYLOOM_FFMPEG;
    try {
      process.env.SKYLOOM_FFMPEG = fake;
      await expect(encodeVideo(stream(), out, { format: 'mp4' })).rejects.toMatchObject({
        code: 'FFMPEG_FAILED',
        path: out,
        message: expect.stringMatching(/exited with code 1: Unknown encoder 'libx264'/),
      });
      process.env.SKYLOOM_FFMPEG = path.join(dir, 'no-such-ffmpeg');
      await expect(encodeVideo(stream(), out, { format: 'mp4' })).rejects.toMatchObject({
        code: 'FFMPEG_FAILED',
        message: expect.stringContaining('no-such-ffmpeg'),
      });
      // A folder passes the execute-permission check and then fails to spawn (EACCES): the encode
      // fails with the path instead of taking the process down.
      const folder = path.join(dir, 'a-folder-not-ffmpeg');
      await mkdir(folder, { recursive: true });
      process.env.SKYLOOM_FFMPEG = folder;
      await expect(encodeVideo(stream(), out, { format: 'mp4' })).rejects.toMatchObject({
        code: 'FFMPEG_FAILED',
        message: expect.stringMatching(/cannot start ffmpeg \(.*a-folder-not-ffmpeg\).*EACCES/),
      });
    } finally {
      if (saved === undefined) delete process.env.SKYLOOM_FFMPEG;
      else process.env.SKYLOOM_FFMPEG = saved;
    }
    expect(await outputsIn('fail')).toEqual([]);
  });

  it('decoding a file that is not a video names the file', async () => {
    const notVideo = path.join(dir, 'notes.mp4');
    await writeFile(notVideo, 'this is text, not a video\n'.repeat(50));
    const error = await decodeVideo(notVideo, { dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MediaError);
    expect(error).toMatchObject({ code: 'UNREADABLE', path: notVideo });
    expect((error as Error).message).toContain(notVideo);

    const missing = path.join(dir, 'missing.mp4');
    await expect(decodeVideo(missing, { dir })).rejects.toMatchObject({ code: 'NOT_FOUND', path: missing });
    await expect(probe(missing)).rejects.toMatchObject({ code: 'NOT_FOUND', path: missing });
  });
});
