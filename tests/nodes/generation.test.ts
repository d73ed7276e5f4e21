// The generation nodes end to end on a tiny random-weight model package: real ONNX sessions, real ffmpeg.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor, WorkflowValidationError, type ExecutionEvent, type Workflow } from '../../engine/index.js';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { readPngText } from '../../media/image.js';
import { createRegistry } from '../../nodes/index.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

const root = resolve(import.meta.dirname, '../..');
const modelsDir = mkdtempSync(join(tmpdir(), 'skyloom-models-'));
const previous = process.env.SKYLOOM_MODELS;

beforeAll(async () => {
  await writeSkyloomPackage(join(modelsDir, 'tiny'), { name: 'tiny' });
  process.env.SKYLOOM_MODELS = modelsDir;
});
afterAll(() => {
  if (previous === undefined) delete process.env.SKYLOOM_MODELS;
  else process.env.SKYLOOM_MODELS = previous;
});

function textToVideo(overrides: Record<string, Record<string, string | number | boolean>> = {}): Workflow {
  const wf = JSON.parse(readFileSync(join(root, 'workflows/text-to-video.json'), 'utf8')) as Workflow;
  const sets: Record<string, Record<string, string | number | boolean>> = { model: { name: 'tiny' }, sampler: { steps: 3 }, ...overrides };
  for (const node of wf.nodes) node.params = { ...(node.params ?? {}), ...(sets[node.id] ?? {}) };
  return wf;
}

async function framesOf(path: string): Promise<Uint8Array> {
  const video = await decodeVideo(path);
  return video.read(0, video.frameCount);
}

describe('text to video on a tiny model', () => {
  it('writes an H.264 yuv420p mp4 of the latent size, length and fps, with progress and previews', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const events: ExecutionEvent[] = [];
    const result = await new Executor(createRegistry(), { outputDir: out }).run(textToVideo(), { onEvent: (e) => events.push(e) });
    const file = result.outputs.save.files![0].path;
    expect(file).toBe(join(out, 'skyloom_00001.mp4'));
    const info = await probe(file);
    expect(info).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 16, height: 16, frameCount: 16, fps: 8 });
    const steps = events.filter((e) => e.type === 'progress' && e.data.nodeId === 'sampler').map((e) => e.type === 'progress' && e.data.step);
    // 16 frames are twice the tiny model's 8-frame window, so they are sampled window by window
    // (models/windowed.ts): 3 windows of 2 latent frames (1 held from the window before), 3 steps each.
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const preview = events.find((e) => e.type === 'preview');
    // The preview holds the window's latent frames (8 frames / 4) at latent resolution (16 px / 8), 1 per 4 frames.
    expect(preview).toMatchObject({ data: { nodeId: 'sampler', preview: { width: 2, height: 2, frameCount: 2, fps: 2 } } });
    // The workflow and AI provenance travel inside the file.
    expect(JSON.parse(info.tags.workflow)).toMatchObject({ format: 'skyloom-workflow', nodes: expect.any(Array) });
    expect(JSON.parse(info.tags.provenance)).toMatchObject({ ai_generated: true, models: ['tiny'], digital_source_type: expect.stringContaining('trainedAlgorithmicMedia') });
  });

  it('the same seed gives identical frames; another seed or prompt gives different ones', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const ex = () => new Executor(createRegistry(), { outputDir: out });
    const path = async (wf: Workflow) => (await ex().run(wf)).outputs.save.files![0].path;
    const a = await framesOf(await path(textToVideo({ sampler: { seed: 7, steps: 3 } })));
    const b = await framesOf(await path(textToVideo({ sampler: { seed: 7, steps: 3 } })));
    const c = await framesOf(await path(textToVideo({ sampler: { seed: 8, steps: 3 } })));
    const d = await framesOf(await path(textToVideo({ sampler: { seed: 7, steps: 3 }, prompt: { text: 'a blue square moves right' } })));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(Buffer.from(a).equals(Buffer.from(d))).toBe(false);
  });

  it("the dit-sampler's unipc sampler (Wan's) writes a valid clip, reproducibly and unlike euler's", async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const ex = () => new Executor(createRegistry(), { outputDir: out });
    const path = async (wf: Workflow) => (await ex().run(wf)).outputs.save.files![0].path;
    const file = await path(textToVideo({ sampler: { seed: 7, steps: 4, sampler: 'unipc' } }));
    expect(await probe(file)).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 16, height: 16, frameCount: 16, fps: 8 });
    const unipc = await framesOf(file);
    const again = await framesOf(await path(textToVideo({ sampler: { seed: 7, steps: 4, sampler: 'unipc' } })));
    const euler = await framesOf(await path(textToVideo({ sampler: { seed: 7, steps: 4, sampler: 'euler' } })));
    expect(unipc.length).toBe(16 * 16 * 16 * 3);
    expect(new Set(unipc).size).toBeGreaterThan(1);
    expect(Buffer.from(unipc).equals(Buffer.from(again))).toBe(true);
    expect(Buffer.from(unipc).equals(Buffer.from(euler))).toBe(false);
  });

  it('re-running after a sampler change re-uses the loaded model and encoded prompts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const ex = new Executor(createRegistry(), { outputDir: out });
    await ex.run(textToVideo({ sampler: { seed: 1, steps: 2 } }));
    const second = await ex.run(textToVideo({ sampler: { seed: 2, steps: 2 } }));
    expect(second.executed).toEqual(['sampler', 'decode', 'save']);
    expect(second.cached).toEqual(expect.arrayContaining(['model', 'positive', 'negative', 'latent']));
  });

  it('two runs saving at once with the same prefix never pick the same file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const runs = [1, 2].map((seed) => new Executor(createRegistry(), { outputDir: out }).run(textToVideo({ sampler: { seed, steps: 2 } })));
    const paths = (await Promise.all(runs)).map((r) => r.outputs.save.files![0].path).sort();
    expect(paths).toEqual([join(out, 'skyloom_00001.mp4'), join(out, 'skyloom_00002.mp4')]);
    for (const p of paths) expect((await probe(p)).frameCount).toBe(16);
  });

  it('save-image writes a PNG frame carrying the workflow', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-out-'));
    const wf = textToVideo();
    wf.nodes.push({ id: 'still', type: 'save-image', params: { frame: -1 }, inputs: { video: { node: 'decode', output: 'video' } } });
    const result = await new Executor(createRegistry(), { outputDir: out }).run(wf);
    const png = result.outputs.still.files![0].path;
    // Videos and stills share one counter per prefix, so a still never overwrites a video's number.
    expect(png).toBe(join(out, 'skyloom_00002.png'));
    const text = readPngText(readFileSync(png));
    expect(JSON.parse(text.workflow).nodes.map((n: { id: string }) => n.id)).toContain('still');
  });

  it('a size off the model grid is refused before running, naming the latent node and the param', async () => {
    const wf = textToVideo({ latent: { aspect: 'custom', width: 100, height: 16 } });
    const error = await new Executor(createRegistry(), { outputDir: tmpdir() }).run(wf).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowValidationError);
    const issues = (error as WorkflowValidationError).issues;
    expect(issues).toEqual([expect.objectContaining({ nodeId: 'latent', pointer: expect.stringMatching(/^\/nodes\/\d+\/params\/width$/) })]);
    expect(issues[0]!.message).toContain('is 100, not on its steps of 16');
  });

  it('validation names a model that is not installed', async () => {
    const wf = textToVideo({ model: { name: 'no-such-model' } });
    await expect(new Executor(createRegistry()).run(wf)).rejects.toMatchObject({
      issues: [{ nodeId: 'model', pointer: '/nodes/0/params/name', message: expect.stringContaining('Model "no-such-model" is not installed; installed: ') }],
    });
  });
});
