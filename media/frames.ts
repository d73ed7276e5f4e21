// Owns the VIDEO value: immutable handles to RGB24 frames, held in memory when small and in a file when large.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AudioTrack, samplesAt } from './audio.js';
import { MediaError } from './errors.js';
import { trackTempFile, untrackTempFile } from './temp-files.js';

/** The shape of every frame in a video: RGB24, `width * height * 3` bytes, row-major, no padding. */
export interface VideoInfo {
  readonly width: number;
  readonly height: number;
  /** Frames per second; may be fractional (29.97 is 30000/1001). */
  readonly fps: number;
}

/** Where and how a {@link VideoWriter} keeps frames. */
export interface FrameStoreOptions {
  /** Folder for frame files once a video spills to disk; default `os.tmpdir()/skyloom-frames`. */
  dir?: string;
  /** Frames stay in memory while their total is at most this many bytes; default {@link DEFAULT_MEMORY_LIMIT_BYTES}. */
  memoryLimitBytes?: number;
}

/**
 * 32 MiB: a few 1080p frames (6.2 MB each) or a whole short preview-size clip stay in memory; anything
 * longer goes to disk, so a 60 s 1080p video (~9 GB) never has more than one chunk in memory.
 */
export const DEFAULT_MEMORY_LIMIT_BYTES = 32 * 1024 * 1024;

/** The default folder for frame files. */
export const DEFAULT_FRAME_DIR = path.join(os.tmpdir(), 'skyloom-frames');

/** Where a handle's bytes live; for diagnostics and tests (reading behaves the same either way). */
export interface StorageInfo {
  /** Bytes held in memory by the stores this handle references. */
  memoryBytes: number;
  /** Bytes held in files by the stores this handle references. */
  fileBytes: number;
  /** The files themselves. */
  files: string[];
}

/** Bytes in one RGB24 frame of this shape. */
export function frameBytes(info: VideoInfo): number {
  return info.width * info.height * 3;
}

// Chunks of about 8 MiB keep a pipe to ffmpeg busy without holding more than a frame or two of 1080p.
const CHUNK_TARGET_BYTES = 8 * 1024 * 1024;

/** A chunk size, in whole frames, that holds about 8 MiB (at least one frame). */
export function defaultChunkFrames(info: VideoInfo): number {
  return Math.max(1, Math.floor(CHUNK_TARGET_BYTES / frameBytes(info)));
}

// A backing store is shared by every handle sliced or concatenated from it; the file goes when the
// last handle referencing it is disposed.
type Backing = { kind: 'memory'; data: Buffer; refs: number } | { kind: 'file'; path: string; size: number; refs: number };

interface Segment {
  readonly backing: Backing;
  readonly firstFrame: number;
  readonly frameCount: number;
}

async function releaseBacking(backing: Backing): Promise<void> {
  backing.refs -= 1;
  if (backing.refs === 0 && backing.kind === 'file') {
    untrackTempFile(backing.path);
    await rm(backing.path, { force: true });
  }
}

/**
 * Checks that a video shape is usable: positive integer size, positive finite fps.
 * @throws {MediaError} INVALID_ARGUMENT naming the bad value.
 */
export function checkVideoInfo(info: VideoInfo): void {
  const { width, height, fps } = info;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new MediaError('INVALID_ARGUMENT', `width and height must be positive integers, got ${width}x${height}`);
  }
  if (!Number.isFinite(fps) || fps <= 0) {
    throw new MediaError('INVALID_ARGUMENT', `fps must be a positive number, got ${fps}`);
  }
}

function checkFrameCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new MediaError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`);
  }
}

async function readFully(file: FileHandle, target: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(target, offset + done, length - done, position + done);
    if (bytesRead === 0) {
      throw new Error(`unexpected end of frame file after ${position + done} bytes`);
    }
    done += bytesRead;
  }
}

/**
 * An immutable video: `frameCount` RGB24 frames of `width` x `height` at `fps`. Read it by frame
 * range or in chunks; whether the bytes are in memory or in a file does not change what you read.
 * `slice` and `concat` make new handles over the same bytes without copying. Dispose every handle
 * you own; the bytes go once no handle refers to them.
 */
export class VideoHandle implements VideoInfo {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number;
  /** Bytes in one frame: `width * height * 3`. */
  readonly frameBytes: number;
  /**
   * The sound under the frames, exactly {@link samplesAt}(frameCount, fps) samples long; absent
   * when the video has none. Owned by this handle (disposed with it).
   */
  readonly audio: AudioTrack | undefined;
  readonly #segments: readonly Segment[];
  #disposed = false;
  #hash: Promise<string> | undefined;

  /** @internal Handles come from {@link VideoWriter.finish}, {@link videoFromChunks}, {@link VideoHandle.slice} and {@link VideoHandle.concat}. */
  constructor(info: VideoInfo, segments: readonly Segment[], audio?: AudioTrack) {
    this.width = info.width;
    this.height = info.height;
    this.fps = info.fps;
    this.frameBytes = frameBytes(info);
    this.#segments = segments;
    this.frameCount = segments.reduce((n, s) => n + s.frameCount, 0);
    for (const s of segments) s.backing.refs += 1;
    // A track of its own (sharing the PCM), cut or padded to the frames' length.
    this.audio = audio?.fit(samplesAt(this.frameCount, this.fps));
  }

  /**
   * A new handle on the same frames with `audio` as its sound (cut or padded with silence to the
   * frames' length), or with none. The caller keeps its own track and disposes it separately.
   * @throws {MediaError} INVALID_STATE after dispose.
   */
  withAudio(audio: AudioTrack | undefined): VideoHandle {
    this.#checkUsable();
    return new VideoHandle(this, this.#segments, audio);
  }

  /** Length in seconds: `frameCount / fps`. */
  get duration(): number {
    return this.frameCount / this.fps;
  }

  /**
   * Copies frames `[start, start + count)` into a new buffer of `count * frameBytes` bytes.
   * @throws {MediaError} INVALID_ARGUMENT when the range is outside the video; INVALID_STATE after
   *   dispose; IO_FAILED when the frame file cannot be read.
   */
  async read(start: number, count: number): Promise<Uint8Array> {
    this.#checkUsable();
    this.#checkRange(start, count);
    const out = Buffer.allocUnsafe(count * this.frameBytes);
    let frame = 0; // first frame of the current segment within this handle
    for (const seg of this.#segments) {
      const from = Math.max(start, frame);
      const to = Math.min(start + count, frame + seg.frameCount);
      if (from < to) {
        const byteOffset = (seg.firstFrame + from - frame) * this.frameBytes;
        const byteLength = (to - from) * this.frameBytes;
        await this.#copy(seg.backing, byteOffset, byteLength, out, (from - start) * this.frameBytes);
      }
      frame += seg.frameCount;
    }
    return out;
  }

  /**
   * Yields the frames in order, `chunkFrames` at a time (the last chunk may be shorter). Each chunk
   * is a fresh buffer the caller may keep or modify.
   * @throws {MediaError} as {@link VideoHandle.read}; INVALID_ARGUMENT when `chunkFrames` is not a positive integer.
   */
  async *chunks(chunkFrames: number = defaultChunkFrames(this)): AsyncGenerator<Uint8Array, void, undefined> {
    if (!Number.isInteger(chunkFrames) || chunkFrames < 1) {
      throw new MediaError('INVALID_ARGUMENT', `chunkFrames must be a positive integer, got ${chunkFrames}`);
    }
    for (let start = 0; start < this.frameCount; start += chunkFrames) {
      yield await this.read(start, Math.min(chunkFrames, this.frameCount - start));
    }
  }

  /**
   * A new handle on frames `[start, start + count)` of this one, sharing its bytes. Dispose it
   * separately; disposing this handle does not invalidate the slice.
   * @throws {MediaError} INVALID_ARGUMENT when the range is outside the video or empty; INVALID_STATE after dispose.
   */
  slice(start: number, count: number): VideoHandle {
    this.#checkUsable();
    this.#checkRange(start, count);
    if (count === 0) throw new MediaError('INVALID_ARGUMENT', 'a video needs at least one frame; slice count is 0');
    const segments: Segment[] = [];
    let frame = 0;
    for (const seg of this.#segments) {
      const from = Math.max(start, frame);
      const to = Math.min(start + count, frame + seg.frameCount);
      if (from < to) {
        segments.push({ backing: seg.backing, firstFrame: seg.firstFrame + from - frame, frameCount: to - from });
      }
      frame += seg.frameCount;
    }
    const audio = this.audio?.slice(samplesAt(start, this.fps), samplesAt(start + count, this.fps) - samplesAt(start, this.fps));
    try {
      return new VideoHandle(this, segments, audio);
    } finally {
      void audio?.dispose();
    }
  }

  /**
   * A new handle playing `videos` one after another, sharing their bytes.
   * @throws {MediaError} INVALID_ARGUMENT when the list is empty or the videos differ in size or fps
   *   (resize or resample first); INVALID_STATE when one is disposed.
   */
  static concat(videos: readonly VideoHandle[]): VideoHandle {
    const first = videos[0];
    if (first === undefined) throw new MediaError('INVALID_ARGUMENT', 'concat needs at least one video');
    for (const [i, v] of videos.entries()) {
      v.#checkUsable();
      if (v.width !== first.width || v.height !== first.height || v.fps !== first.fps) {
        throw new MediaError(
          'INVALID_ARGUMENT',
          `concat needs videos of one size and fps: video 0 is ${first.width}x${first.height}@${first.fps}, ` + `video ${i} is ${v.width}x${v.height}@${v.fps}`,
        );
      }
    }
    // Sound plays on under the videos that have it and silence fills the others, so each
    // video's sound stays under its own frames.
    let audio: AudioTrack | undefined;
    if (videos.some((v) => v.audio !== undefined)) {
      const parts = videos.map((v) => v.audio ?? AudioTrack.silence(samplesAt(v.frameCount, v.fps)));
      audio = AudioTrack.concat(parts);
      for (const [i, v] of videos.entries()) if (v.audio === undefined) void parts[i]!.dispose();
    }
    try {
      return new VideoHandle(
        first,
        videos.flatMap((v) => v.#segments),
        audio,
      );
    } finally {
      void audio?.dispose();
    }
  }

  /**
   * A SHA-256 (hex) of the shape and every frame's bytes, for cache keys: two handles with the same
   * frames hash alike however they were built (slice, concat, memory or file).
   * @throws {MediaError} as {@link VideoHandle.read}.
   */
  hash(): Promise<string> {
    this.#checkUsable();
    this.#hash ??= (async () => {
      const h = createHash('sha256');
      h.update(`skyloom-rgb24 ${this.width}x${this.height}@${this.fps} ${this.frameCount}\n`);
      for await (const chunk of this.chunks()) h.update(chunk);
      if (this.audio) await this.audio.updateHash(h);
      return h.digest('hex');
    })();
    return this.#hash;
  }

  /** Where this handle's bytes live (shared stores counted once). */
  storage(): StorageInfo {
    const info: StorageInfo = { memoryBytes: 0, fileBytes: 0, files: [] };
    for (const b of new Set(this.#segments.map((s) => s.backing))) {
      if (b.kind === 'memory') info.memoryBytes += b.data.byteLength;
      else {
        info.fileBytes += b.size;
        info.files.push(b.path);
      }
    }
    return info;
  }

  /** Whether {@link VideoHandle.dispose} was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Releases this handle; its frame file is removed once no other handle shares it. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#segments) await releaseBacking(s.backing);
    await this.audio?.dispose();
  }

  #checkUsable(): void {
    if (this.#disposed) throw new MediaError('INVALID_STATE', 'this video handle was disposed');
  }

  #checkRange(start: number, count: number): void {
    checkFrameCount('start', start);
    checkFrameCount('count', count);
    if (start + count > this.frameCount) {
      throw new MediaError('INVALID_ARGUMENT', `frames ${start}..${start + count - 1} are outside a video of ${this.frameCount} frames`);
    }
  }

  async #copy(backing: Backing, byteOffset: number, byteLength: number, out: Buffer, outOffset: number): Promise<void> {
    if (backing.kind === 'memory') {
      backing.data.copy(out, outOffset, byteOffset, byteOffset + byteLength);
      return;
    }
    let file: FileHandle | undefined;
    try {
      file = await open(backing.path, 'r');
      await readFully(file, out, outOffset, byteLength, byteOffset);
    } catch (err) {
      throw new MediaError('IO_FAILED', `cannot read frames: ${(err as Error).message}`, backing.path, { cause: err });
    } finally {
      await file?.close();
    }
  }
}

/**
 * `video` with the sound of `source`, for a node that keeps its input's timeline (resample,
 * upscale, resize, decode of encoded frames): a new handle replacing `video` (released) when
 * `source` has sound, `video` itself when not.
 * @throws {MediaError} INVALID_STATE when `video` is disposed.
 */
export async function carryAudio(video: VideoHandle, source: { audio?: AudioTrack | undefined }): Promise<VideoHandle> {
  if (source.audio === undefined) return video;
  const out = video.withAudio(source.audio);
  await video.dispose();
  return out;
}

/**
 * Builds a {@link VideoHandle} from frames appended in order. Frames stay in memory until their
 * total passes `memoryLimitBytes`; then everything moves to a file in `dir` and later frames are
 * written straight there. Call `finish()` for the handle, or `discard()` to drop what was written.
 */
export class VideoWriter {
  readonly info: VideoInfo;
  readonly frameBytes: number;
  readonly #dir: string;
  readonly #memoryLimit: number;
  #memory: Buffer[] = [];
  #memoryBytes = 0;
  #file: { path: string; handle: FileHandle; size: number } | undefined;
  #frames = 0;
  #state: 'open' | 'finished' | 'discarded' = 'open';
  // Appends run one after another even when a caller does not await each; the first failure sticks.
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;

  /** @throws {MediaError} INVALID_ARGUMENT for a non-positive size or fps. */
  constructor(info: VideoInfo, options: FrameStoreOptions = {}) {
    checkVideoInfo(info);
    this.info = { width: info.width, height: info.height, fps: info.fps };
    this.frameBytes = frameBytes(info);
    this.#dir = options.dir ?? DEFAULT_FRAME_DIR;
    this.#memoryLimit = options.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT_BYTES;
  }

  /** Frames appended so far (including writes still in flight). */
  get frameCount(): number {
    return this.#frames;
  }

  /**
   * Appends whole frames: `chunk.byteLength` must be a multiple of `frameBytes`. Do not modify the
   * chunk until the returned promise settles (it may be written to the file from the caller's buffer).
   * @throws {MediaError} INVALID_ARGUMENT for a partial frame; INVALID_STATE after finish/discard;
   *   IO_FAILED when the frame file cannot be written.
   */
  append(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') {
      return Promise.reject(new MediaError('INVALID_STATE', `cannot append to a video writer that is ${this.#state}`));
    }
    if (chunk.byteLength % this.frameBytes !== 0) {
      return Promise.reject(
        new MediaError(
          'INVALID_ARGUMENT',
          `a chunk must hold whole ${this.info.width}x${this.info.height} RGB24 frames (${this.frameBytes} bytes each), ` + `got ${chunk.byteLength} bytes`,
        ),
      );
    }
    this.#frames += chunk.byteLength / this.frameBytes;
    const run = this.#queue.then(() => this.#write(chunk));
    this.#queue = run.catch((err: unknown) => {
      this.#failure ??= err;
    });
    return run;
  }

  /**
   * Seals the frames into an immutable handle; the writer cannot be used afterwards.
   * @throws {MediaError} INVALID_STATE when no frame was appended or the writer was already
   *   finished/discarded; the error of a failed append.
   */
  async finish(): Promise<VideoHandle> {
    if (this.#state !== 'open') throw new MediaError('INVALID_STATE', `cannot finish a video writer that is ${this.#state}`);
    this.#state = 'finished';
    await this.#queue;
    if (this.#failure !== undefined || this.#frames === 0) {
      await this.#removeFile();
      throw this.#failure ?? new MediaError('INVALID_STATE', 'a video needs at least one frame; none was appended');
    }
    let backing: Backing;
    if (this.#file) {
      await this.#file.handle.close();
      backing = { kind: 'file', path: this.#file.path, size: this.#file.size, refs: 0 };
    } else {
      backing = { kind: 'memory', data: Buffer.concat(this.#memory, this.#memoryBytes), refs: 0 };
    }
    this.#memory = [];
    return new VideoHandle(this.info, [{ backing, firstFrame: 0, frameCount: this.#frames }]);
  }

  /** Drops everything appended and removes the frame file. Idempotent; a no-op after finish. */
  async discard(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'discarded';
    await this.#queue;
    this.#memory = [];
    await this.#removeFile();
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#file === undefined && this.#memoryBytes + chunk.byteLength <= this.#memoryLimit) {
      this.#memory.push(Buffer.from(chunk)); // a copy: the caller may reuse its buffer once we return
      this.#memoryBytes += chunk.byteLength;
      return;
    }
    const file = this.#file ?? (await this.#spill());
    try {
      await file.handle.write(chunk, 0, chunk.byteLength, file.size);
      file.size += chunk.byteLength;
    } catch (err) {
      throw new MediaError('IO_FAILED', `cannot write frames: ${(err as Error).message}`, file.path, { cause: err });
    }
  }

  async #spill(): Promise<{ path: string; handle: FileHandle; size: number }> {
    const file = path.join(this.#dir, `frames-${process.pid}-${randomBytes(8).toString('hex')}.rgb`);
    try {
      await mkdir(this.#dir, { recursive: true });
      const handle = await open(file, 'wx');
      trackTempFile(file);
      this.#file = { path: file, handle, size: 0 };
      for (const buf of this.#memory) {
        await handle.write(buf, 0, buf.byteLength, this.#file.size);
        this.#file.size += buf.byteLength;
      }
    } catch (err) {
      throw new MediaError('IO_FAILED', `cannot create frame file: ${(err as Error).message}`, file, { cause: err });
    }
    this.#memory = [];
    this.#memoryBytes = 0;
    return this.#file;
  }

  async #removeFile(): Promise<void> {
    if (!this.#file) return;
    const { path: file, handle } = this.#file;
    this.#file = undefined;
    await handle.close().catch(() => undefined); // may already be closed by a failed write
    untrackTempFile(file);
    await rm(file, { force: true });
  }
}

/**
 * Builds a handle from chunks of whole frames, e.g. a model decoding latents a few frames at a time.
 * On any failure (including abort) nothing is left on disk.
 * @throws {MediaError} as {@link VideoWriter.append} and {@link VideoWriter.finish}.
 * @throws the signal's reason when `options.signal` aborts.
 */
export async function videoFromChunks(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  info: VideoInfo,
  options: FrameStoreOptions & { signal?: AbortSignal } = {},
): Promise<VideoHandle> {
  const writer = new VideoWriter(info, options);
  try {
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      await writer.append(chunk);
    }
    options.signal?.throwIfAborted();
    return await writer.finish();
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/**
 * Regroups a byte stream (a pipe, a socket) into chunks of `framesPerChunk` whole frames; the last
 * chunk may hold fewer frames. Each yielded chunk is a fresh buffer.
 * @throws {MediaError} INVALID_ARGUMENT when the stream ends inside a frame.
 */
export async function* wholeFrames(bytes: AsyncIterable<Uint8Array>, bytesPerFrame: number, framesPerChunk: number): AsyncGenerator<Uint8Array, void, undefined> {
  const size = bytesPerFrame * framesPerChunk;
  let chunk = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const piece of bytes) {
    let used = 0;
    while (used < piece.byteLength) {
      const n = Math.min(size - filled, piece.byteLength - used);
      chunk.set(piece.subarray(used, used + n), filled);
      filled += n;
      used += n;
      if (filled === size) {
        yield chunk;
        chunk = Buffer.allocUnsafe(size);
        filled = 0;
      }
    }
  }
  if (filled % bytesPerFrame !== 0) {
    throw new MediaError('INVALID_ARGUMENT', `the stream ended inside a frame: ${filled % bytesPerFrame} bytes past the last whole frame of ${bytesPerFrame} bytes`);
  }
  if (filled > 0) yield chunk.subarray(0, filled);
}
