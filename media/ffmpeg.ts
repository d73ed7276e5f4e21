// Owns every ffmpeg / ffprobe call: binary paths, probing, and streaming raw RGB24 frames into (encode) and out of (decode) ffmpeg.

import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import ffprobeInstaller from '@ffprobe-installer/ffprobe';
import ffmpeg, { type FfmpegCommand } from 'fluent-ffmpeg';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AUDIO_CHANNELS, AUDIO_FRAME_BYTES, AUDIO_SAMPLE_RATE, AudioTrack, pcmPath, samplesAt } from './audio.js';
import { MediaError } from './errors.js';
import { checkVideoInfo, defaultChunkFrames, frameBytes, VideoHandle, videoFromChunks, VideoWriter, wholeFrames, type FrameStoreOptions, type VideoInfo } from './frames.js';

// Encoding goes through fluent-ffmpeg, kept thin: it builds the command line (raw frames in on
// stdin, codec and metadata options, the output file), checks that the binary can mux the format
// and has the encoder, and runs it. Probing and decoding stay on plain execFile / spawn: its
// ffprobe wrapper parses ffprobe's line-based output, which cuts a multi-line tag value (e.g. a
// 'parameters' text) at its first newline (`-of json` keeps it whole), and decoding reads raw
// frames from stdout, which it only offers as a pipe into a stream of our own.
// Its format / encoder lists are probed once per process (`ffmpeg -formats`, `-encoders`) from the
// binary in use then; the binary itself is read from $SKYLOOM_FFMPEG at every encode.

/** The ffmpeg binary: `$SKYLOOM_FFMPEG`, else the static build shipped by @ffmpeg-installer/ffmpeg. */
export function ffmpegPath(): string {
  return process.env.SKYLOOM_FFMPEG || ffmpegInstaller.path;
}

/** The ffprobe binary: `$SKYLOOM_FFPROBE`, else the static build shipped by @ffprobe-installer/ffprobe. */
export function ffprobePath(): string {
  return process.env.SKYLOOM_FFPROBE || ffprobeInstaller.path;
}

/** A video as a one-pass stream: chunks of whole RGB24 frames plus their shape. */
export interface FrameStream extends VideoInfo {
  readonly frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export type VideoFormat = 'mp4' | 'webm' | 'gif';

/** `dir` and `memoryLimitBytes` apply only to gif from a {@link FrameStream}, which is stored first. */
export interface EncodeOptions extends FrameStoreOptions {
  format: VideoFormat;
  /**
   * Constant quality; lower is better. mp4 (x264): 0–51, default 18. webm (VP9): 0–63, default 32.
   * Ignored for gif, whose quality is set by its 256-colour palette.
   */
  crf?: number;
  /**
   * Container metadata. Keys are letters, digits and `_`, compared without case (WebM stores them
   * upper-cased; {@link probe} returns them lower-cased). mp4 and webm keep every key and multi-line
   * UTF-8 values, up to 128 KiB per `key=value`; gif has no metadata and drops them.
   */
  metadata?: Record<string, string>;
  /**
   * Sound to write under the frames (cut or padded to their length): AAC in mp4, Opus in webm.
   * Default: a {@link VideoHandle}'s own audio; `null` writes none. gif has no sound and ignores it.
   */
  audio?: AudioTrack | null;
  signal?: AbortSignal;
}

export interface DecodeOptions extends FrameStoreOptions {
  /** Resample to this frame rate (frames are dropped or repeated); default the file's rate. */
  fps?: number;
  /** Scale every frame to exactly this size (Lanczos, aspect not kept); default the file's size. */
  size?: { width: number; height: number };
  /**
   * Keep the file's first audio stream as the handle's {@link VideoHandle.audio} (converted to
   * 48 kHz stereo, aligned with the frames, cut or padded with silence to their length). Default false.
   */
  audio?: boolean;
  /** What transparent pixels (a PNG, a VP9 with alpha) are composited onto; default black. */
  background?: Rgb;
  signal?: AbortSignal;
}

/** A colour, 0–255 per channel. */
export interface Rgb {
  r: number;
  g: number;
  b: number;
}

// Pixel formats ffmpeg decodes with an alpha channel (palettes may hold transparent entries).
const ALPHA_PIX_FMT = /^(yuva|gbrap|ya\d|pal8$)|rgba|bgra|argb|abgr/;

function hasAlpha(pixFmt: string): boolean {
  return ALPHA_PIX_FMT.test(pixFmt);
}

// RGBA → RGB24 over a solid colour: out = a·c + (1 − a)·background.
function overBackground(rgba: Uint8Array, bg: Rgb): Uint8Array {
  const out = new Uint8Array((rgba.byteLength / 4) * 3);
  const back = [bg.r, bg.g, bg.b];
  for (let p = 0, q = 0; p < rgba.byteLength; p += 4, q += 3) {
    const a = rgba[p + 3]!;
    for (let c = 0; c < 3; c++) out[q + c] = Math.round((rgba[p + c]! * a + back[c]! * (255 - a)) / 255);
  }
  return out;
}

export interface ProbeResult {
  /** ffmpeg's name of the container, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `gif`. */
  container: string;
  /** Codec of the first video stream, e.g. `h264`, `vp9`, `gif`. */
  codec: string;
  pixFmt: string;
  /** Size of the decoded frames: the coded size, turned when the file asks for a 90° rotation. */
  width: number;
  height: number;
  fps: number;
  /** The frame rate as ffprobe gives it, exactly (`30000/1001`). */
  fpsFraction: { num: number; den: number };
  /** Video packets in the file, counted by demuxing (not estimated from the duration). */
  frameCount: number;
  /** Seconds. */
  duration: number;
  /** Container tags with lower-cased keys. */
  tags: Record<string, string>;
}

// Enough of ffmpeg's complaint to see the cause without flooding a log.
const STDERR_TAIL_CHARS = 2000;

const METADATA_KEY = /^[A-Za-z0-9_]+$/;

// Metadata reaches ffmpeg as `-metadata key=value` arguments, and Linux caps one argument at
// 128 KiB (MAX_ARG_STRLEN, with its NUL). The other way in, an ffmetadata file, is worse with the
// 2018 static build: its reader cuts every value at about 1 KiB (measured).
const MAX_ARG_BYTES = 128 * 1024 - 1;

interface DecodeRun {
  args: string[];
  /** Must read stdout to its end. */
  output: (stdout: Readable) => Promise<void>;
  signal?: AbortSignal;
  /** The file the run is about, named in errors. */
  path: string;
}

// Precedence of outcomes: abort > ffmpeg's own failure > a failure of our side of the pipe (we
// killed ffmpeg because the consumer threw) > success.
async function runDecode(run: DecodeRun): Promise<void> {
  run.signal?.throwIfAborted();
  const binary = ffmpegPath();
  const child = spawn(binary, ['-hide_banner', '-nostats', '-loglevel', 'error', ...run.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
  });

  let stopped = false;
  let stopReason: unknown;
  const stop = (reason: unknown): void => {
    if (stopped) return;
    stopped = true;
    stopReason = reason;
    child.kill('SIGKILL'); // the output is thrown away, so nothing is gained by letting ffmpeg finish it
  };
  const onAbort = (): void => stop(run.signal?.reason);
  run.signal?.addEventListener('abort', onAbort, { once: true });

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const reading = run.output(child.stdout).catch(stop);

  try {
    const exit = await exited.catch((err: Error) => {
      throw new MediaError('FFMPEG_FAILED', `cannot start ffmpeg (${binary}): ${err.message}`, run.path, { cause: err });
    });
    await reading;
    if (run.signal?.aborted) throw run.signal.reason;
    if (exit.code !== 0 && exit.code !== null) {
      throw new MediaError('FFMPEG_FAILED', `ffmpeg exited with code ${exit.code}: ${stderr.trim()}`, run.path);
    }
    if (stopped) throw stopReason;
    if (exit.signal !== null) {
      throw new MediaError('FFMPEG_FAILED', `ffmpeg was killed by ${exit.signal}: ${stderr.trim()}`, run.path);
    }
  } finally {
    run.signal?.removeEventListener('abort', onAbort);
  }
}

interface EncodeRun {
  info: VideoInfo;
  /** Whole RGB24 frames, the command's first input. */
  frames: AsyncIterable<Uint8Array>;
  /** Adds what follows the raw frames: other inputs, filters, the output file and its options. */
  finish: (command: FfmpegCommand) => FfmpegCommand;
  signal?: AbortSignal;
  /** The file the run is about, named in errors. */
  path: string;
}

/**
 * What fluent-ffmpeg emits: the message says how ffmpeg ended ("ffmpeg exited with code 1"), a
 * failure of the frame source is kept as inputStreamError, and a failed spawn has its errno code.
 */
type FluentError = Error & { inputStreamError?: unknown; code?: string };

// Precedence of outcomes: abort > a failure of the frame source (ffmpeg is killed because of it) >
// ffmpeg's own failure > success.
async function runEncode(run: EncodeRun): Promise<void> {
  run.signal?.throwIfAborted();
  const binary = ffmpegPath();
  const { width, height, fps } = run.info;
  // Object mode counts chunks: one chunk waits in the readable while ffmpeg's stdin is full, and
  // pipe() waits for 'drain', so a slow ffmpeg slows the producer and memory stays at a chunk or two.
  const frames = Readable.from(run.frames, { highWaterMark: 1 });
  const command = run.finish(
    ffmpeg()
      .setFfmpegPath(binary)
      .input(frames)
      .inputFormat('rawvideo')
      // ffmpeg turns a decimal rate into the nearest rational (29.97002997 → 30000/1001).
      .inputOptions('-hide_banner', '-nostats', '-loglevel', 'error', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps)),
  );
  const onAbort = (): void => void command.kill('SIGKILL');
  run.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await access(binary, constants.X_OK).catch((err: Error) => {
      throw new MediaError('FFMPEG_FAILED', `cannot start ffmpeg (${binary}): ${err.message}`, run.path, { cause: err });
    });
    await new Promise<void>((resolve, reject) => {
      let child: ChildProcess | undefined;
      const fail = (err: FluentError, stderr: string): void => {
        const settle = (): void => {
          if (run.signal?.aborted) reject(run.signal.reason);
          else if (err.inputStreamError !== undefined) reject(err.inputStreamError);
          else reject(encodeFailure(err, stderr, binary, run.path));
        };
        // fluent-ffmpeg reports a failed frame source while ffmpeg may still be running; the caller
        // removes the partial file as soon as this settles, so ffmpeg must be gone by then or it
        // writes the file again after its removal (seen under load).
        if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          child.once('exit', settle);
          child.kill('SIGKILL');
        } else settle();
      };
      command.once('end', () => resolve());
      command.once('error', (err: FluentError, _stdout: string | null, stderr: string | null) => fail(err, stderr ?? ''));
      command.once('start', () => {
        child = (command as FfmpegCommand & { ffmpegProc: ChildProcess }).ffmpegProc;
        // fluent-ffmpeg 2.1.3's own listener for a failed spawn (EAGAIN, ENOMEM, ...) throws a
        // TypeError out of the event (it reads stderr buffers that do not exist yet), which would
        // take the whole process down; ours reports it as this encode's failure instead.
        child.removeAllListeners('error');
        child.once('error', (err: FluentError) => fail(err, ''));
        // kill() before ffmpeg starts (fluent-ffmpeg first lists the binary's formats and
        // encoders) reaches no process, so an abort is acted on again here.
        if (run.signal?.aborted) onAbort();
      });
      command.run();
    });
  } finally {
    run.signal?.removeEventListener('abort', onAbort);
    frames.destroy(); // ends the producer when ffmpeg stopped reading early
  }
}

function encodeFailure(err: FluentError, stderr: string, binary: string, file: string): MediaError {
  const exit = /^ffmpeg (exited with code \d+|was killed with signal \w+)/.exec(err.message);
  if (exit) return new MediaError('FFMPEG_FAILED', `${exit[0]}: ${stderr.trim().slice(-STDERR_TAIL_CHARS)}`, file);
  if (err.code === 'ENOENT' || err.code === 'EACCES') {
    return new MediaError('FFMPEG_FAILED', `cannot start ffmpeg (${binary}): ${err.message}`, file, { cause: err });
  }
  // fluent-ffmpeg's own checks: "Video codec libx264 is not available", "Output format mp4 is not available".
  return new MediaError('FFMPEG_FAILED', `${err.message} in ${binary}`, file, { cause: err });
}

// Convert with the BT.709 matrix and tag the stream as such: players guess between BT.601 and
// BT.709 for untagged video, and a wrong guess shifts every colour.
const YUV420_BT709 = ['-vf', 'scale=out_color_matrix=bt709:out_range=tv,format=yuv420p', '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709'];

function codecOf(format: 'mp4' | 'webm', crf: number | undefined): { codec: string; options: string[] } {
  if (format === 'mp4') {
    return {
      codec: 'libx264',
      options: [
        ...YUV420_BT709,
        '-preset',
        'medium',
        '-crf',
        String(crf ?? 18),
        // faststart: the index goes first so a browser starts playing before the download ends.
        // use_metadata_tags: without it the mp4 muxer keeps only its fixed keys (title, comment, ...).
        '-movflags',
        '+faststart+use_metadata_tags',
      ],
    };
  }
  return {
    // VP9 in the 2018 static build (libvpx 1.7) works; `-b:v 0` makes crf a pure quality target.
    codec: 'libvpx-vp9',
    options: [...YUV420_BT709, '-crf', String(crf ?? 32), '-b:v', '0', '-deadline', 'good', '-cpu-used', '4', '-row-mt', '1'],
  };
}

function checkEncodeOptions(info: VideoInfo, options: EncodeOptions): void {
  const { format, crf, metadata } = options;
  checkVideoInfo(info);
  if (format !== 'mp4' && format !== 'webm' && format !== 'gif') {
    throw new MediaError('INVALID_ARGUMENT', `Unsupported video format "${String(format)}". Should be one of: mp4, webm, gif`);
  }
  if (format === 'mp4' && (info.width % 2 !== 0 || info.height % 2 !== 0)) {
    const w = info.width + (info.width % 2);
    const h = info.height + (info.height % 2);
    throw new MediaError(
      'INVALID_ARGUMENT',
      `mp4 (H.264, yuv420p) needs an even width and height, but the video is ${info.width}x${info.height}; ` +
        `resize or pad it to ${w}x${h} (or ${info.width - (info.width % 2)}x${info.height - (info.height % 2)}) first`,
    );
  }
  const maxCrf = format === 'mp4' ? 51 : 63;
  if (crf !== undefined && format !== 'gif' && !(Number.isInteger(crf) && crf >= 0 && crf <= maxCrf)) {
    throw new MediaError('INVALID_ARGUMENT', `crf for ${format} must be an integer from 0 to ${maxCrf}, got ${crf}`);
  }
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (!METADATA_KEY.test(key)) {
      throw new MediaError('INVALID_ARGUMENT', `metadata key "${key}" must be letters, digits and _ only`);
    }
    const bytes = Buffer.byteLength(`${key}=${value}`);
    if (bytes > MAX_ARG_BYTES) {
      throw new MediaError(
        'INVALID_ARGUMENT',
        `metadata "${key}" is ${bytes} bytes, over the ${MAX_ARG_BYTES} bytes ffmpeg can take for one key=value; ` + 'shorten or compress it',
      );
    }
  }
}

function metadataArgs(metadata: Record<string, string>): string[] {
  return Object.entries(metadata).flatMap(([key, value]) => ['-metadata', `${key}=${value}`]);
}

async function* checkedChunks(stream: FrameStream): AsyncGenerator<Uint8Array, void, undefined> {
  const bytes = frameBytes(stream);
  let frames = 0;
  for await (const chunk of stream.frames) {
    if (chunk.byteLength % bytes !== 0) {
      throw new MediaError('INVALID_ARGUMENT', `a chunk must hold whole ${stream.width}x${stream.height} RGB24 frames (${bytes} bytes each), got ${chunk.byteLength} bytes`);
    }
    frames += chunk.byteLength / bytes;
    yield chunk;
  }
  if (frames === 0) throw new MediaError('INVALID_ARGUMENT', 'cannot encode a video with no frames');
}

/**
 * Encodes RGB24 frames into `outPath` as mp4 (H.264, yuv420p, BT.709, faststart), webm (VP9,
 * yuv420p) or gif (a 256-colour palette computed over all frames). Frames stream into ffmpeg a chunk
 * at a time with backpressure. The file is written under a temporary name next to `outPath` and
 * renamed at the end, so a failure or abort leaves no output and no partial file.
 *
 * gif makes two passes (palette, then mapping), so a one-pass {@link FrameStream} is first stored in
 * a {@link VideoHandle} (on disk when large). GIF delays are whole centiseconds: 24 fps plays at 25.
 *
 * @throws {MediaError} INVALID_ARGUMENT for an odd mp4 size (resize or pad first; nothing is padded
 *   silently), a bad size, fps or crf, a bad or oversized metadata entry, a partial frame or no frames; FFMPEG_FAILED with ffmpeg's
 *   stderr when it fails; IO_FAILED when the output folder cannot be written.
 * @throws the signal's reason when `options.signal` aborts (ffmpeg is killed).
 */
export async function encodeVideo(source: VideoHandle | FrameStream, outPath: string, options: EncodeOptions): Promise<void> {
  const info: VideoInfo = { width: source.width, height: source.height, fps: source.fps };
  checkEncodeOptions(info, options);
  options.signal?.throwIfAborted();
  const dir = path.dirname(path.resolve(outPath));
  const partial = path.join(dir, `.${path.basename(outPath)}.${randomBytes(6).toString('hex')}.partial`);
  const scratch = [partial];
  try {
    const inOutputFolder = (err: Error): never => {
      throw new MediaError('IO_FAILED', `cannot write into the output folder: ${err.message}`, outPath, { cause: err });
    };
    await mkdir(dir, { recursive: true }).catch(inOutputFolder);
    if (options.format === 'gif') {
      const palette = `${partial}.palette.png`;
      scratch.push(palette);
      await encodeGif(source, info, palette, partial, options, outPath);
    } else {
      const { codec, options: codecOptions } = codecOf(options.format, options.crf);
      const format = options.format;
      const pcm = await soundInput(source, options, partial);
      if (pcm) scratch.push(pcm);
      await runEncode({
        info,
        frames: source instanceof VideoHandle ? source.chunks() : checkedChunks(source),
        // Options go in one call with several arguments: given a single string, fluent-ffmpeg
        // splits it at a space, which would cut a metadata value in two.
        finish: (command) => {
          command
            .output(partial)
            .videoCodec(codec)
            .outputOptions(...codecOptions, ...metadataArgs(options.metadata ?? {}));
          if (pcm) {
            command
              .input(pcm)
              .inputFormat('s16le')
              .inputOptions('-ar', String(AUDIO_SAMPLE_RATE), '-ac', String(AUDIO_CHANNELS))
              .audioCodec(format === 'mp4' ? 'aac' : 'libopus')
              .outputOptions('-map', '0:v:0', '-map', '1:a:0', '-b:a', format === 'mp4' ? '192k' : '128k');
          }
          return command.format(format);
        },
        signal: options.signal,
        path: outPath,
      });
    }
    await rename(partial, outPath).catch(inOutputFolder);
  } finally {
    // After a successful rename the partial name no longer exists; rm with force ignores it.
    await Promise.all(scratch.map((f) => rm(f, { force: true })));
  }
}

// The sound to mux, written next to the partial output as raw PCM (ffmpeg reads one stream from
// stdin, and that is the frames); undefined when there is none to write.
async function soundInput(source: VideoHandle | FrameStream, options: EncodeOptions, partial: string): Promise<string | undefined> {
  if (options.audio === null) return undefined;
  const track = options.audio ?? (source instanceof VideoHandle ? source.audio : undefined);
  if (track === undefined) return undefined;
  const file = `${partial}.pcm`;
  if (source instanceof VideoHandle) {
    const fitted = track.fit(samplesAt(source.frameCount, source.fps));
    try {
      await fitted.writePcm(file);
    } finally {
      await fitted.dispose();
    }
  } else {
    await track.writePcm(file);
  }
  return file;
}

// palettegen must see every frame before paletteuse can map the first; in one ffmpeg run that
// buffers the whole video inside ffmpeg, so two passes over a re-readable handle keep memory flat.
async function encodeGif(source: VideoHandle | FrameStream, info: VideoInfo, palette: string, partial: string, options: EncodeOptions, outPath: string): Promise<void> {
  const { signal } = options;
  const video = source instanceof VideoHandle ? source : await videoFromChunks(checkedChunks(source), info, options);
  try {
    await runEncode({
      info,
      frames: video.chunks(),
      finish: (command) => command.output(palette).outputOptions('-vf', 'palettegen').format('image2'),
      signal,
      path: outPath,
    });
    await runEncode({
      info,
      frames: video.chunks(),
      finish: (command) => command.input(palette).complexFilter('[0:v][1:v]paletteuse').output(partial).format('gif'),
      signal,
      path: outPath,
    });
  } finally {
    if (video !== source) await video.dispose();
  }
}

interface RawProbe {
  streams?: Array<Record<string, unknown> & { tags?: Record<string, string>; side_data_list?: Array<Record<string, unknown>> }>;
  format?: { format_name?: string; duration?: string; tags?: Record<string, string> };
}

async function ffprobeJson(file: string, extraArgs: string[], signal: AbortSignal | undefined, streams = 'v:0'): Promise<RawProbe> {
  signal?.throwIfAborted();
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new MediaError('NOT_FOUND', 'no such file', file, { cause: err });
    throw new MediaError('IO_FAILED', `cannot read the file: ${err.message}`, file, { cause: err });
  });
  if (!info.isFile()) throw new MediaError('UNREADABLE', 'not a file', file);
  const args = ['-v', 'error', '-of', 'json', '-show_streams', '-show_format', '-select_streams', streams, ...extraArgs, path.resolve(file)];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(ffprobePath(), args, { maxBuffer: 64 * 1024 * 1024, signal }, (err, out, errOut) => {
      if (signal?.aborted) reject(signal.reason);
      else if (err) {
        const why = String(errOut).trim().slice(-STDERR_TAIL_CHARS) || err.message;
        reject(new MediaError('UNREADABLE', `ffprobe cannot read it as video: ${why}`, file, { cause: err }));
      } else resolve(out);
    });
  });
  return JSON.parse(stdout) as RawProbe;
}

function parseProbe(file: string, raw: RawProbe): ProbeResult {
  const stream = raw.streams?.[0];
  if (!stream) throw new MediaError('UNREADABLE', 'the file has no video stream', file);
  const rate = [stream.avg_frame_rate, stream.r_frame_rate]
    .map((r) =>
      String(r ?? '0/0')
        .split('/')
        .map(Number),
    )
    .find(([num, den]) => num! > 0 && den! > 0);
  if (!rate) throw new MediaError('UNREADABLE', 'the video stream has no frame rate', file);
  const [num, den] = rate as [number, number];
  // A phone video stores landscape pixels plus "turn 90°"; ffmpeg decodes it turned, so report that size.
  const rotation = Number(stream.tags?.rotate ?? stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  const turned = Math.abs(rotation) % 180 === 90;
  const codedWidth = Number(stream.width);
  const codedHeight = Number(stream.height);
  const fps = num / den;
  const frameCount = Number(stream.nb_read_packets ?? NaN);
  const duration = Number(raw.format?.duration ?? stream.duration);
  return {
    container: raw.format?.format_name ?? '',
    codec: String(stream.codec_name ?? ''),
    pixFmt: String(stream.pix_fmt ?? ''),
    width: turned ? codedHeight : codedWidth,
    height: turned ? codedWidth : codedHeight,
    fps,
    fpsFraction: { num, den },
    frameCount,
    duration: Number.isFinite(duration) ? duration : frameCount / fps,
    tags: Object.fromEntries(Object.entries(raw.format?.tags ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
}

/**
 * Describes the first video stream of a file. `frameCount` comes from demuxing every packet
 * (`-count_packets`), exact for the formats Skyloom writes and far cheaper than decoding.
 * @throws {MediaError} NOT_FOUND when the file is missing; UNREADABLE when it is not a video.
 * @throws the signal's reason when `options.signal` aborts.
 */
export async function probe(file: string, options: { signal?: AbortSignal } = {}): Promise<ProbeResult> {
  return parseProbe(file, await ffprobeJson(file, ['-count_packets'], options.signal));
}

/**
 * Decodes the first video stream of any file ffmpeg reads into a {@link VideoHandle} of RGB24
 * frames, streaming: frames go from ffmpeg's stdout into the store a chunk at a time (to disk when
 * large). The frame rate is made constant (`fps` filter) so the handle's fps is exact; a clip
 * shorter than one frame at that rate (a still, one frame at another rate) keeps its frame.
 * Transparency is composited onto `background`.
 * @throws {MediaError} NOT_FOUND when the file is missing; UNREADABLE when it is not a video;
 *   FFMPEG_FAILED when decoding fails part-way; INVALID_ARGUMENT for a bad `fps` or `size`.
 * @throws the signal's reason when `options.signal` aborts (ffmpeg is killed, nothing is kept).
 */
export async function decodeVideo(file: string, options: DecodeOptions = {}): Promise<VideoHandle> {
  const { fps, size, signal } = options;
  if (fps !== undefined && !(Number.isFinite(fps) && fps > 0)) {
    throw new MediaError('INVALID_ARGUMENT', `fps must be a positive number, got ${fps}`, file);
  }
  const probedRaw = await ffprobeJson(file, [], signal);
  const probed = parseProbe(file, probedRaw);
  const info: VideoInfo = {
    width: size?.width ?? probed.width,
    height: size?.height ?? probed.height,
    fps: fps ?? probed.fps,
  };
  const writer = new VideoWriter(info, options); // validates size
  const rate = fps !== undefined ? String(fps) : `${probed.fpsFraction.num}/${probed.fpsFraction.den}`;
  const background = options.background ?? { r: 0, g: 0, b: 0 };
  const alpha = hasAlpha(probed.pixFmt);
  const pixels = info.width * info.height;
  const pass = (fpsFilter: string) =>
    runDecode({
      args: [
        '-i',
        path.resolve(file), // absolute, so a name starting with '-' is not read as an option
        '-map',
        '0:v:0',
        '-an',
        '-sn',
        '-vf',
        `${fpsFilter},scale=${info.width}:${info.height}:flags=lanczos`,
        '-f',
        'rawvideo',
        '-pix_fmt',
        alpha ? 'rgba' : 'rgb24',
        'pipe:1',
      ],
      output: async (stdout) => {
        for await (const chunk of wholeFrames(stdout, alpha ? pixels * 4 : writer.frameBytes, defaultChunkFrames(info))) {
          await writer.append(alpha ? overBackground(chunk, background) : chunk);
        }
      },
      signal,
      path: file,
    });
  try {
    await pass(`fps=${rate}`);
    // A clip shorter than one output frame (one frame at 25 fps resampled to 8, a still) rounds
    // to none; passing its last frame on at the end keeps it as a 1-frame video.
    if (writer.frameCount === 0) await pass(`fps=${rate}:eof_action=pass`);
    const video = await writer.finish();
    if (!options.audio) return video;
    try {
      const videoStart = Number(probedRaw.streams?.[0]?.start_time ?? 0);
      const sound = await decodeAudio(file, Number.isFinite(videoStart) ? videoStart : 0, options);
      if (sound === undefined) return video;
      const withSound = video.withAudio(sound);
      await sound.dispose();
      await video.dispose();
      return withSound;
    } catch (err) {
      await video.dispose();
      throw err;
    }
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/** The first audio stream of a file, as ffprobe describes it. */
export interface AudioProbe {
  codec: string;
  sampleRate: number;
  channels: number;
  /** Seconds; NaN when the container does not say. */
  duration: number;
  /** Seconds from the file's time origin. */
  startTime: number;
}

/**
 * Describes the first audio stream of a file, or undefined when it has none.
 * @throws {MediaError} NOT_FOUND when the file is missing; UNREADABLE when ffprobe cannot read it.
 * @throws the signal's reason when `options.signal` aborts.
 */
export async function probeAudio(file: string, options: { signal?: AbortSignal } = {}): Promise<AudioProbe | undefined> {
  const raw = await ffprobeJson(file, [], options.signal, 'a:0');
  const stream = raw.streams?.[0];
  if (!stream) return undefined;
  const start = Number(stream.start_time ?? 0);
  return {
    codec: String(stream.codec_name ?? ''),
    sampleRate: Number(stream.sample_rate),
    channels: Number(stream.channels),
    duration: Number(stream.duration ?? NaN),
    startTime: Number.isFinite(start) ? start : 0,
  };
}

// The sound of a file as a track of its own, placed on the frames' timeline: a stream that starts
// after the video gets silence in front, one that starts before loses its head.
async function decodeAudio(file: string, videoStart: number, options: DecodeOptions): Promise<AudioTrack | undefined> {
  const info = await probeAudio(file, options);
  if (info === undefined) return undefined;
  const out = pcmPath(options.dir);
  await mkdir(path.dirname(out), { recursive: true });
  let bytes = 0;
  try {
    await runDecode({
      args: ['-i', path.resolve(file), '-map', '0:a:0', '-vn', '-sn', '-ac', String(AUDIO_CHANNELS), '-ar', String(AUDIO_SAMPLE_RATE), '-f', 's16le', 'pipe:1'],
      output: async (stdout) => {
        const sink = createWriteStream(out);
        stdout.on('data', (chunk: Buffer) => {
          bytes += chunk.byteLength;
        });
        await pipeline(stdout, sink);
      },
      signal: options.signal,
      path: file,
    });
  } catch (err) {
    await rm(out, { force: true });
    throw err;
  }
  const whole = AudioTrack.fromPcmFile(out, bytes - (bytes % AUDIO_FRAME_BYTES));
  const offset = Math.round((info.startTime - videoStart) * AUDIO_SAMPLE_RATE);
  if (offset === 0) return whole;
  const lead = offset > 0 ? AudioTrack.silence(offset) : undefined;
  const body = offset > 0 ? whole : whole.slice(Math.min(-offset, whole.sampleCount), Math.max(0, whole.sampleCount + offset));
  const placed = AudioTrack.concat(lead ? [lead, body] : [body]);
  await whole.dispose();
  if (body !== whole) await body.dispose();
  return placed;
}
