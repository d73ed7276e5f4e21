// Every shipped workflow runs on the default model, at a reduced length where the full one is slow;
// outputs are checked with ffprobe.

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Executor, type Workflow } from '../../engine/index.js';
import { probe } from '../../media/ffmpeg.js';
import { createRegistry } from '../../nodes/index.js';

const root = resolve(import.meta.dirname, '../..');

/** Param overrides that make a workflow quick enough for CI (fewer steps, shorter output). */
const reduced: Record<string, Record<string, Record<string, string | number>>> = {
  'long-60s': { latent: { seconds: 6 }, sampler: { steps: 6 } },
  'text-to-video-1080p': { latent: { seconds: 0.5 }, sampler: { steps: 6 } },
  'text-to-video-vertical': { latent: { seconds: 0.5 }, sampler: { steps: 6 } },
};

/** [width, height, frames, fps] each workflow's output must have (at the reduced settings). */
const expected: Record<string, [number, number, number, number]> = {
  'text-to-video': [64, 64, 16, 8],
  'text-to-video-16x9': [112, 64, 16, 8],
  'text-to-video-9x16': [64, 112, 16, 8],
  'extend-forward': [64, 64, 32, 8],
  'extend-backward': [64, 64, 32, 8],
  'image-to-video': [64, 64, 16, 8],
  'video-to-video': [64, 64, 16, 8],
  connect: [64, 64, 40, 8],
  loop: [64, 64, 24, 8],
  'long-60s': [64, 64, 48, 8],
  'text-to-video-1080p': [1920, 1080, 4, 8],
  'text-to-video-vertical': [1080, 1920, 4, 8],
};

const shipped = readdirSync(join(root, 'workflows')).filter((f) => f.endsWith('.json') && f !== 'workflow.schema.json');

describe('shipped workflows', () => {
  it('every shipped workflow has an expectation here', () => {
    expect(shipped.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const file of shipped) {
    const name = file.replace(/\.json$/, '');
    it(`${name} makes a valid video`, async () => {
      const wf = JSON.parse(readFileSync(join(root, 'workflows', file), 'utf8')) as Workflow;
      for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(reduced[name]?.[node.id] ?? {}) };
      const out = mkdtempSync(join(tmpdir(), `skyloom-${name}-`));
      const result = await new Executor(createRegistry(), { outputDir: out, inputDir: root }).run(wf);
      const files = Object.values(result.outputs).flatMap((u) => u.files ?? []);
      expect(files).toHaveLength(1);
      const info = await probe(files[0].path);
      const [width, height, frames, fps] = expected[name];
      expect(info).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width, height, frameCount: frames, fps });
      expect(info.duration).toBeCloseTo(frames / fps, 1);
    });
  }
});
