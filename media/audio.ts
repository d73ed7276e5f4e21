// Owns the sound a VIDEO carries: 48 kHz stereo 16-bit PCM in files, cut and joined by sample ranges, with silence where nothing was recorded.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MediaError } from './errors.js';
import { trackTempFile, untrackTempFile } from './temp-files.js';

// The frame folder (media/frames.ts), named again here so the two modules do not import each other.
const DEFAULT_DIR = path.join(os.tmpdir(), 'skyloom-frames');

/**
 * Every track has one format, so cutting and joining never resamples: ffmpeg converts the input's
 * sound to it once, on load. 48 kHz is what video containers and AAC/Opus use natively.
 */
export const AUDIO_SAMPLE_RATE = 48_000;
export const AUDIO_CHANNELS = 2;
/** Bytes in one sample frame (all channels): s16le × 2 channels. */
export const AUDIO_FRAME_BYTES = 2 * AUDIO_CHANNELS;

/**
 * The sample at which video frame `frame` starts, at `fps`. Cuts and joins go through this one
 * rounding, so the sound of frames [a, b) is always samples [samplesAt(a), samplesAt(b)).
 */
export function samplesAt(frame: number, fps: number): number {
  return Math.round((frame * AUDIO_SAMPLE_RATE) / fps);
}

type PcmBacking = { path: string; refs: number };

type AudioSegment = { readonly kind: 'pcm'; readonly backing: PcmBacking; readonly first: number; readonly count: number } | { readonly kind: 'silence'; readonly count: number };

/** A fresh name for a PCM file in `dir` (default: the frame folder). */
export function pcmPath(dir: string = DEFAULT_DIR): string {
  return path.join(dir, `audio-${process.pid}-${randomBytes(8).toString('hex')}.pcm`);
}

// 1 s of stereo s16le: reads stay small however long the track.
const CHUNK_SAMPLES = AUDIO_SAMPLE_RATE;

/**
 * An immutable audio track: `sampleCount` sample frames of 48 kHz stereo s16le. `slice` and
 * `concat` make new tracks over the same files without copying; silence takes no bytes. Dispose
 * every track you own; a file goes when no track refers to it.
 */
export class AudioTrack {
  readonly sampleRate = AUDIO_SAMPLE_RATE;
  readonly channels = AUDIO_CHANNELS;
  readonly sampleCount: number;
  readonly #segments: readonly AudioSegment[];
  #disposed = false;

  private constructor(segments: readonly AudioSegment[]) {
    this.#segments = segments.filter((s) => s.count > 0);
    this.sampleCount = this.#segments.reduce((n, s) => n + s.count, 0);
    for (const s of this.#segments) if (s.kind === 'pcm') s.backing.refs += 1;
  }

  /** `count` samples of silence. */
  static silence(count: number): AudioTrack {
    checkCount('count', count);
    return new AudioTrack([{ kind: 'silence', count }]);
  }

  /**
   * Takes over a PCM file (48 kHz stereo s16le) as a track; the file is removed when the track and
   * every track cut from it are disposed (or when the process exits).
   * @throws {MediaError} INVALID_ARGUMENT when `bytes` is not whole sample frames.
   */
  static fromPcmFile(file: string, bytes: number): AudioTrack {
    if (bytes % AUDIO_FRAME_BYTES !== 0) {
      throw new MediaError('INVALID_ARGUMENT', `a PCM file of stereo s16le holds whole ${AUDIO_FRAME_BYTES}-byte sample frames, got ${bytes} bytes`, file);
    }
    trackTempFile(file);
    return new AudioTrack([{ kind: 'pcm', backing: { path: file, refs: 0 }, first: 0, count: bytes / AUDIO_FRAME_BYTES }]);
  }

  /**
   * Tracks played one after another.
   * @throws {MediaError} INVALID_STATE when one is disposed.
   */
  static concat(tracks: readonly AudioTrack[]): AudioTrack {
    for (const t of tracks) t.#checkUsable();
    return new AudioTrack(tracks.flatMap((t) => t.#segments));
  }

  /** Seconds. */
  get duration(): number {
    return this.sampleCount / this.sampleRate;
  }

  /** Whether any part of the track holds recorded sound (not only generated silence). */
  get hasSound(): boolean {
    return this.#segments.some((s) => s.kind === 'pcm');
  }

  /**
   * Samples `[start, start + count)`; the part past the end of the track is silence, so a cut
   * always has the length asked for.
   * @throws {MediaError} INVALID_ARGUMENT for a negative or fractional range; INVALID_STATE after dispose.
   */
  slice(start: number, count: number): AudioTrack {
    this.#checkUsable();
    checkCount('start', start);
    checkCount('count', count);
    const out: AudioSegment[] = [];
    let at = 0;
    for (const seg of this.#segments) {
      const from = Math.max(start, at);
      const to = Math.min(start + count, at + seg.count);
      if (from < to) {
        out.push(seg.kind === 'pcm' ? { ...seg, first: seg.first + from - at, count: to - from } : { kind: 'silence', count: to - from });
      }
      at += seg.count;
    }
    const past = start + count - Math.max(start, this.sampleCount);
    if (past > 0) out.push({ kind: 'silence', count: past });
    return new AudioTrack(out);
  }

  /** This track cut or padded with silence to exactly `count` samples. */
  fit(count: number): AudioTrack {
    return this.slice(0, count);
  }

  /**
   * The samples in order, about a second at a time, as fresh buffers of s16le stereo bytes.
   * @throws {MediaError} IO_FAILED when a PCM file cannot be read; INVALID_STATE after dispose.
   */
  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    this.#checkUsable();
    for (const seg of this.#segments) {
      for (let done = 0; done < seg.count; done += CHUNK_SAMPLES) {
        const n = Math.min(CHUNK_SAMPLES, seg.count - done);
        const buf = Buffer.alloc(n * AUDIO_FRAME_BYTES);
        if (seg.kind === 'pcm') await readPcm(seg.backing.path, (seg.first + done) * AUDIO_FRAME_BYTES, buf);
        yield buf;
      }
    }
  }

  /**
   * Writes the whole track as one raw PCM file (48 kHz stereo s16le), e.g. as an ffmpeg input.
   * @throws {MediaError} IO_FAILED when the file cannot be written.
   */
  async writePcm(file: string): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      handle = await open(file, 'w');
      let at = 0;
      for await (const chunk of this.chunks()) {
        await handle.write(chunk, 0, chunk.byteLength, at);
        at += chunk.byteLength;
      }
    } catch (err) {
      if (err instanceof MediaError) throw err;
      throw new MediaError('IO_FAILED', `cannot write the audio: ${(err as Error).message}`, file, { cause: err });
    } finally {
      await handle?.close();
    }
  }

  /** Feeds every sample into a hash (for a VIDEO's cache key). */
  async updateHash(hash: ReturnType<typeof createHash>): Promise<void> {
    hash.update(`pcm-s16le ${this.sampleRate} ${this.channels} ${this.sampleCount}\n`);
    for await (const chunk of this.chunks()) hash.update(chunk);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Releases this track; a PCM file is removed once no track shares it. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#segments) {
      if (s.kind !== 'pcm') continue;
      s.backing.refs -= 1;
      if (s.backing.refs === 0) {
        untrackTempFile(s.backing.path);
        await rm(s.backing.path, { force: true });
      }
    }
  }

  #checkUsable(): void {
    if (this.#disposed) throw new MediaError('INVALID_STATE', 'this audio track was disposed');
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new MediaError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${value}`);
}

async function readPcm(file: string, position: number, target: Buffer): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, 'r');
    let done = 0;
    while (done < target.byteLength) {
      const { bytesRead } = await handle.read(target, done, target.byteLength - done, position + done);
      if (bytesRead === 0) throw new Error(`unexpected end of the audio file after ${position + done} bytes`);
      done += bytesRead;
    }
  } catch (err) {
    throw new MediaError('IO_FAILED', `cannot read audio: ${(err as Error).message}`, file, { cause: err });
  } finally {
    await handle?.close();
  }
}
