// video-to-video on the shipped model: strength 0 is the input's VAE round trip, strength → 0 tends to it, and more strength changes more.

import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineNode, Executor, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { ffmpegPath } from '../../media/ffmpeg.js';
import type { VideoHandle } from '../../media/frames.js';
import { createRegistry } from '../../nodes/index.js';

const work = mkdtempSync(join(tmpdir(), 'skyloom-v2v-'));

beforeAll(() => {
  // Outside footage: ffmpeg's test pattern, nothing like the shapes the model was trained on.
  execFileSync(ffmpegPath(), ['-y', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=8:duration=2', '-pix_fmt', 'yuv420p', '-crf', '0', join(work, 'clip.mp4')]);
});

const seen = new Map<string, Uint8Array>();
const capture = defineNode({
  type: 'test/capture-video',
  version: 1,
  category: 'test',
  description: 'Keeps the frames that reach it for the test.',
  flags: { output: true, idempotent: false },
  inputs: { video: { type: 'VIDEO' } },
  run: async ({ video }, ctx) => {
    const v = video as VideoHandle;
    seen.set(ctx.nodeId, await v.read(0, v.frameCount));
  },
});

const model = { node: 'model', output: 'model' };
const STRENGTHS = [0, 0.01, 0.2, 0.5, 0.9];
/** A node id for a strength: `s0_2` for 0.2. */
const at = (s: number): string => `s${String(s).replace('.', '_')}`;

/** Runs the input, its round trip and video-to-video at each strength in one graph (shared encode). */
async function runAll(): Promise<void> {
  const nodes: WorkflowNode[] = [
    { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny', device: 'cpu' } },
    { id: 'prompt', type: 'text-encode', params: { text: 'a red circle moving left on a black background' }, inputs: { model } },
    { id: 'clip', type: 'load-video', params: { path: 'clip.mp4' } },
    { id: 'enc', type: 'vae-encode', inputs: { model, video: { node: 'clip', output: 'video' } } },
    { id: 'trip', type: 'vae-decode', inputs: { model, latent: { node: 'enc', output: 'latent' } } },
    { id: 'input', type: 'test/capture-video', inputs: { video: { node: 'clip', output: 'video' } } },
    { id: 'roundtrip', type: 'test/capture-video', inputs: { video: { node: 'trip', output: 'video' } } },
  ];
  for (const [i, s] of STRENGTHS.entries()) {
    nodes.push(
      {
        id: `sample${i}`,
        type: 'dit-sampler',
        params: { steps: 20, denoise: s, seed: 7 },
        inputs: { model, positive: { node: 'prompt', output: 'conditioning' }, latent: { node: 'enc', output: 'latent' } },
      },
      { id: `dec${i}`, type: 'vae-decode', inputs: { model, latent: { node: `sample${i}`, output: 'latent' } } },
      { id: at(s), type: 'test/capture-video', inputs: { video: { node: `dec${i}`, output: 'video' } } },
    );
  }
  const registry = createRegistry();
  registry.register(capture);
  const wf: Workflow = { format: 'skyloom-workflow', version: 3, nodes };
  await new Executor(registry, { outputDir: work, inputDir: work }).run(wf);
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

describe('video-to-video says what it does', () => {
  beforeAll(runAll, 120_000);

  it('strength 0 is the VAE round trip itself, byte for byte', () => {
    expect(Buffer.from(seen.get(at(0))!).equals(Buffer.from(seen.get('roundtrip')!))).toBe(true);
  });

  it('strength 0.01 comes back within 35 dB of the round trip', () => {
    const db = psnr(seen.get(at(0.01))!, seen.get('roundtrip')!);
    console.log(`strength 0.01 against the round trip: ${db.toFixed(2)} dB`);
    expect(db).toBeGreaterThanOrEqual(35);
  });

  it('more strength changes more: PSNR against the input falls as strength rises', () => {
    const input = seen.get('input')!;
    const curve = [0, 0.2, 0.5, 0.9].map((s) => psnr(seen.get(at(s))!, input));
    console.log(`PSNR vs input at strength 0, 0.2, 0.5, 0.9: ${curve.map((p) => p.toFixed(2)).join(', ')} dB; round trip ${psnr(seen.get('roundtrip')!, input).toFixed(2)} dB`);
    for (let i = 1; i < curve.length; i++) expect(curve[i]!, `strength ${[0, 0.2, 0.5, 0.9][i]}`).toBeLessThan(curve[i - 1]!);
  });

  it('an empty latent at strength 0 is refused with a message', async () => {
    const registry = createRegistry();
    const wf: Workflow = {
      format: 'skyloom-workflow',
      version: 3,
      nodes: [
        { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny', device: 'cpu' } },
        { id: 'prompt', type: 'text-encode', params: { text: 'a red circle' }, inputs: { model } },
        { id: 'empty', type: 'empty-latent', inputs: { model } },
        {
          id: 'sample',
          type: 'dit-sampler',
          params: { denoise: 0 },
          inputs: { model, positive: { node: 'prompt', output: 'conditioning' }, latent: { node: 'empty', output: 'latent' } },
        },
        { id: 'dec', type: 'vae-decode', inputs: { model, latent: { node: 'sample', output: 'latent' } } },
        { id: 'save', type: 'save-video', inputs: { video: { node: 'dec', output: 'video' } } },
      ],
    };
    await expect(new Executor(registry, { outputDir: work, inputDir: work }).run(wf)).rejects.toThrow('denoise 0 re-styles an input video, but the latent is empty');
  });
});
