// The video io family: save-video and save-image, which write outputs with their workflow and provenance.

import { createHash } from 'node:crypto';
import { mkdir, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { defineNode, NodeInputError, type NodeContext, type Workflow } from '../engine/index.js';
import { decodeVideo, encodeVideo, type VideoFormat } from '../media/ffmpeg.js';
import { carryAudio } from '../media/frames.js';
import { loadImage, parseColour, resizeImage, resizeVideo, saveImage } from '../media/image.js';

/** IPTC's digital source type for media made by a trained model. */
export const TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia';

/** Machine-readable provenance embedded in every output file. */
export interface Provenance {
  ai_generated: true;
  digital_source_type: string;
  generator: string;
  models: string[];
  workflow_sha256: string;
  created: string;
}

export function provenanceOf(workflow: Workflow): Provenance {
  const models = workflow.nodes.filter((n) => n.type === 'load-model').map((n) => String(n.params?.name ?? 'skyloom-tiny'));
  return {
    ai_generated: true,
    digital_source_type: TRAINED_ALGORITHMIC_MEDIA,
    generator: 'Skyloom',
    models: [...new Set(models)],
    workflow_sha256: createHash('sha256').update(JSON.stringify(workflow)).digest('hex'),
    created: new Date().toISOString(),
  };
}

/**
 * Claims the next free `<prefix>_NNNNN.<ext>` in the output folder, counting up like other tools
 * users know. The name is claimed with an exclusive create, so two workers saving at once never
 * pick the same file; the caller replaces the empty claim (or removes it on failure).
 */
async function claimOutputPath(dir: string, prefix: string, ext: string): Promise<string> {
  const bad = prefixProblem(prefix);
  if (bad) throw new NodeInputError(bad);
  await mkdir(dir, { recursive: true });
  const pattern = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}_(\\d{5})\\.`);
  let next = 1;
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (m) next = Math.max(next, Number(m[1]) + 1);
  }
  for (;;) {
    const path = join(dir, `${prefix}_${String(next).padStart(5, '0')}.${ext}`);
    try {
      await (await open(path, 'wx')).close();
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      next += 1;
    }
  }
}

/** What is wrong with a filename_prefix, or undefined; checked at validation and again when writing. */
export function prefixProblem(prefix: unknown): string | undefined {
  if (typeof prefix !== 'string' || !/^[\w.-]{1,100}$/.test(prefix) || prefix.startsWith('.')) {
    return `filename_prefix ${JSON.stringify(prefix)} may hold only 1–100 letters, digits, "_", "-" and "." and must not start with "."`;
  }
  return undefined;
}

// A linked prefix (undefined here) is checked when the node writes.
const prefixCheck = (prefix: unknown) => {
  const message = prefix === undefined ? undefined : prefixProblem(prefix);
  return message ? [{ param: 'filename_prefix', message }] : [];
};

/** Writes an output through `write`, removing the claimed name if writing fails or is interrupted. */
async function writeOutput(dir: string, prefix: string, ext: string, write: (path: string) => Promise<void>): Promise<string> {
  const path = await claimOutputPath(dir, prefix, ext);
  try {
    await write(path);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return path;
}

function metadataOf(ctx: NodeContext): Record<string, string> {
  const provenance = provenanceOf(ctx.workflow);
  return {
    workflow: JSON.stringify(ctx.workflow),
    provenance: JSON.stringify(provenance),
    comment: `AI-generated with Skyloom (${provenance.models.join(', ') || 'no model'}); digital source type: trainedAlgorithmicMedia`,
  };
}

const MIME: Record<VideoFormat, string> = { mp4: 'video/mp4', webm: 'video/webm', gif: 'image/gif' };

export const saveVideoNode = defineNode({
  type: 'save-video',
  version: 1,
  aliases: ['preview', 'video combine', 'export', 'output'],
  category: 'video io',
  description: 'Writes the video to the output folder (mp4 is H.264 yuv420p and plays in browsers), with its workflow and AI provenance embedded.',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  params: {
    filename_prefix: { kind: 'string', default: 'skyloom' },
    format: { kind: 'enum', default: 'mp4', choices: ['mp4', 'webm', 'gif'] },
    crf: { kind: 'int', default: 18, min: 0, max: 63, description: 'Quality for mp4 (0–51) and webm (0–63); lower is better.' },
    strip_audio: { kind: 'boolean', default: false, description: "Write no sound. Otherwise the video's sound goes in as AAC (mp4) or Opus (webm); gif has none." },
  },
  check: ({ filename_prefix, format, crf }) => [
    ...prefixCheck(filename_prefix),
    ...(format === 'mp4' && (crf as number) > 51 ? [{ param: 'crf', message: `crf ${String(crf)} is above 51, the highest H.264 (mp4) takes; webm takes up to 63` }] : []),
  ],
  run: async ({ video, filename_prefix, format, crf, strip_audio }, ctx) => {
    const v = video;
    const fmt = format;
    if (fmt === 'mp4' && crf > 51) throw new NodeInputError(`crf ${crf} is above 51, the highest H.264 takes`);
    const path = await writeOutput(ctx.outputDir, filename_prefix, fmt, (p) =>
      encodeVideo(v, p, { format: fmt, crf, metadata: metadataOf(ctx), signal: ctx.signal, ...(strip_audio ? { audio: null } : {}) }),
    );
    const sound = v.audio && !strip_audio && fmt !== 'gif' ? ', with sound' : '';
    ctx.log.info(`wrote ${path} (${v.frameCount} frames, ${v.width}×${v.height}, ${v.fps} fps${sound})`);
    ctx.output({ files: [{ path, kind: fmt === 'gif' ? 'image' : 'video', mime: MIME[fmt] }] });
  },
});

export const saveImageNode = defineNode({
  type: 'save-image',
  version: 1,
  aliases: ['preview image', 'preview', 'export frame'],
  category: 'video io',
  description: 'Writes one frame of a video as an image (PNG keeps the workflow and provenance in text chunks).',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  params: {
    frame: { kind: 'int', default: 0, min: -100000, max: 100000, description: 'Frame index; negative counts from the end (-1 is the last).' },
    filename_prefix: { kind: 'string', default: 'skyloom' },
    format: { kind: 'enum', default: 'png', choices: ['png', 'jpeg', 'webp'] },
  },
  check: ({ filename_prefix }) => prefixCheck(filename_prefix),
  run: async ({ video, frame, filename_prefix, format }, ctx) => {
    const v = video;
    const index = frame < 0 ? v.frameCount + frame : frame;
    if (index < 0 || index >= v.frameCount) throw new NodeInputError(`frame ${frame} is outside the video's ${v.frameCount} frames`);
    const fmt = format;
    const data = await v.read(index, 1);
    const path = await writeOutput(ctx.outputDir, filename_prefix, fmt === 'jpeg' ? 'jpg' : fmt, (p) =>
      saveImage({ width: v.width, height: v.height, data }, p, { format: fmt, ...(fmt === 'png' ? { text: metadataOf(ctx) } : {}) }),
    );
    ctx.output({ files: [{ path, kind: 'image', mime: `image/${fmt}` }] });
  },
});

/**
 * Resolves an input path against the context's input folder; with `confineInputs` (servers) a
 * path that leaves the folder, also through a symlink, is refused.
 * @throws NodeInputError naming the path when it does not exist or is outside the input folder
 */
async function resolveInput(ctx: NodeContext, path: string): Promise<string> {
  if (path.trim() === '') throw new NodeInputError('No file given: set the "path" param');
  const full = resolve(ctx.inputDir, path);
  const outside = () => new NodeInputError(`"${path}" is outside the input folder; only uploaded files can be read`);
  // Decided from the name first, so the answer is the same whether or not an outside file exists.
  if (ctx.confineInputs && escapes(relative(ctx.inputDir, full))) throw outside();
  let real: string;
  try {
    real = await realpath(full);
  } catch {
    // A server's client is told the name it gave, never the server's folders.
    throw new NodeInputError(`File not found: ${ctx.confineInputs ? path : full}`);
  }
  if (ctx.confineInputs && escapes(relative(await realpath(ctx.inputDir), real))) throw outside();
  return real;
}

const escapes = (rel: string) => rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);

/** Files change under the same name: their size and modification time are part of the cache key. */
async function fileFingerprint(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

const BACKGROUND_PARAM = {
  kind: 'string',
  default: '#000000',
  description: 'What transparent pixels are composited onto, as #rrggbb; default #000000 (black).',
} as const;

function colourProblems(background: unknown): Array<{ param: string; message: string }> {
  try {
    parseColour(String(background));
    return [];
  } catch (error) {
    return [{ param: 'background', message: (error as Error).message }];
  }
}

export const loadVideoNode = defineNode({
  type: 'load-video',
  version: 1,
  aliases: ['video loader', 'input video'],
  category: 'video io',
  description:
    'Reads a video file (any format ffmpeg reads), frame by frame into a store, with its sound (nodes that keep the timeline carry it to save-video); optionally resized and resampled on the way in.',
  params: {
    path: { kind: 'string', default: '', file: 'video', description: 'A file path, or the name of an uploaded file.' },
    width: { kind: 'int', default: 0, min: 0, max: 8192, description: '0 keeps the width (with height 0 too).' },
    height: { kind: 'int', default: 0, min: 0, max: 8192 },
    fit: { kind: 'enum', default: 'crop', choices: ['crop', 'pad', 'stretch'] },
    fps: { kind: 'float', default: 0, min: 0, max: 120, description: '0 keeps the frame rate. A clip shorter than one frame at this rate (a still) keeps its one frame.' },
    background: BACKGROUND_PARAM,
  },
  outputs: { video: { type: 'VIDEO' }, fps: { type: 'FLOAT' }, width: { type: 'INT' }, height: { type: 'INT' }, frames: { type: 'INT' } },
  fingerprint: ({ path }) => fileFingerprint(path),
  check: ({ background }) => colourProblems(background),
  run: async ({ path, width, height, fit, fps, background }, ctx) => {
    const file = await resolveInput(ctx, path);
    const bg = parseColour(background);
    let video = await decodeVideo(file, { dir: ctx.tempDir, signal: ctx.signal, audio: true, background: bg, ...(fps > 0 ? { fps } : {}) });
    if (width > 0 && height > 0 && (video.width !== width || video.height !== height)) {
      const resized = await resizeVideo(video, width, height, { fit, dir: ctx.tempDir, signal: ctx.signal });
      video = await carryAudio(resized, video);
    }
    ctx.log.info(`${file}: ${video.frameCount} frames, ${video.width}×${video.height}, ${video.fps} fps`);
    return { video, fps: video.fps, width: video.width, height: video.height, frames: video.frameCount };
  },
});

export const loadImageNode = defineNode({
  type: 'load-image',
  version: 1,
  aliases: ['image loader', 'input image'],
  category: 'video io',
  description: 'Reads an image file (PNG, JPEG, WebP, ...) as RGB; optionally resized.',
  params: {
    path: { kind: 'string', default: '', file: 'image', description: 'A file path, or the name of an uploaded file.' },
    width: { kind: 'int', default: 0, min: 0, max: 8192, description: '0 keeps the size (with height 0 too).' },
    height: { kind: 'int', default: 0, min: 0, max: 8192 },
    fit: { kind: 'enum', default: 'crop', choices: ['crop', 'pad', 'stretch'] },
    background: BACKGROUND_PARAM,
  },
  outputs: { image: { type: 'IMAGE' }, width: { type: 'INT' }, height: { type: 'INT' } },
  fingerprint: ({ path }) => fileFingerprint(path),
  check: ({ background }) => colourProblems(background),
  run: async ({ path, width, height, fit, background }, ctx) => {
    let image = await loadImage(await resolveInput(ctx, path), { background: parseColour(background) });
    if (width > 0 && height > 0) image = await resizeImage(image, width, height, fit);
    return { image, width: image.width, height: image.height };
  },
});

export const videoIoNodes = [loadVideoNode, loadImageNode, saveVideoNode, saveImageNode];
