// The video io family: save-video and save-image, which write outputs with their workflow and provenance.

import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { defineNode, type NodeContext, type Workflow } from '../engine/index.js';
import { encodeVideo, type VideoFormat } from './media/ffmpeg.js';
import type { VideoHandle } from './media/frames.js';
import { saveImage, type ImageFormat } from './media/image.js';

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

/** The next free `<prefix>_NNNNN.<ext>` in the output folder, counting up like other tools users know. */
async function nextOutputPath(dir: string, prefix: string, ext: string): Promise<string> {
  if (!/^[\w.-]+$/.test(prefix) || prefix.startsWith('.')) {
    throw new Error(`filename_prefix "${prefix}" may hold only letters, digits, "_", "-" and "." and must not start with "."`);
  }
  await mkdir(dir, { recursive: true });
  const pattern = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}_(\\d{5})\\.`);
  let highest = 0;
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (m) highest = Math.max(highest, Number(m[1]));
  }
  return join(dir, `${prefix}_${String(highest + 1).padStart(5, '0')}.${ext}`);
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
  category: 'video io',
  description: 'Writes the video to the output folder (mp4 is H.264 yuv420p and plays in browsers), with its workflow and AI provenance embedded.',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  params: {
    filename_prefix: { kind: 'string', default: 'skyloom' },
    format: { kind: 'enum', default: 'mp4', choices: ['mp4', 'webm', 'gif'] },
    crf: { kind: 'int', default: 18, min: 0, max: 63, description: 'Quality for mp4 (0–51) and webm (0–63); lower is better.' },
  },
  run: async ({ video, filename_prefix, format, crf }, ctx) => {
    const v = video as VideoHandle;
    const fmt = format as VideoFormat;
    if (fmt === 'mp4' && (crf as number) > 51) throw new Error(`crf ${String(crf)} is above 51, the highest H.264 takes`);
    const path = await nextOutputPath(ctx.outputDir, filename_prefix as string, fmt);
    await encodeVideo(v, path, { format: fmt, crf: crf as number, metadata: metadataOf(ctx), signal: ctx.signal });
    ctx.log.info(`wrote ${path} (${v.frameCount} frames, ${v.width}×${v.height}, ${v.fps} fps)`);
    ctx.output({ files: [{ path, kind: fmt === 'gif' ? 'image' : 'video', mime: MIME[fmt] }] });
  },
});

export const saveImageNode = defineNode({
  type: 'save-image',
  version: 1,
  category: 'video io',
  description: 'Writes one frame of a video as an image (PNG keeps the workflow and provenance in text chunks).',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  params: {
    frame: { kind: 'int', default: 0, min: -100000, max: 100000, description: 'Frame index; negative counts from the end (-1 is the last).' },
    filename_prefix: { kind: 'string', default: 'skyloom' },
    format: { kind: 'enum', default: 'png', choices: ['png', 'jpeg', 'webp'] },
  },
  run: async ({ video, frame, filename_prefix, format }, ctx) => {
    const v = video as VideoHandle;
    const index = (frame as number) < 0 ? v.frameCount + (frame as number) : (frame as number);
    if (index < 0 || index >= v.frameCount) throw new Error(`frame ${String(frame)} is outside the video's ${v.frameCount} frames`);
    const fmt = format as ImageFormat;
    const path = await nextOutputPath(ctx.outputDir, filename_prefix as string, fmt === 'jpeg' ? 'jpg' : fmt);
    const data = await v.read(index, 1);
    await saveImage({ width: v.width, height: v.height, data }, path, { format: fmt, ...(fmt === 'png' ? { text: metadataOf(ctx) } : {}) });
    ctx.output({ files: [{ path, kind: 'image', mime: `image/${fmt}` }] });
  },
});

export const videoIoNodes = [saveVideoNode, saveImageNode];
