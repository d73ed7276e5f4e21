// Admission control: a prompt whose every value is in range but whose cost is not is refused before it is queued, naming the node, the param and the limit.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit, defaultLimits, validateWorkflow, type Workflow } from '../../engine/index.js';
import type { ErrorBody, ValidateResponse } from '../../protocol/index.js';
import { createRegistry } from '../../nodes/index.js';
import { getJson, postJson, raw, startServer } from './helpers.js';

const textToVideo = JSON.parse(readFileSync(join(import.meta.dirname, '../../workflows/text-to-video.json'), 'utf8')) as Workflow;

/** The shipped text-to-video workflow with some params changed. */
function tweaked(changes: Record<string, Record<string, unknown>>): Workflow {
  return {
    ...textToVideo,
    nodes: textToVideo.nodes.map((n) => (changes[n.id] ? { ...n, params: { ...n.params, ...changes[n.id] } as Workflow['nodes'][number]['params'] } : n)),
  };
}

const huge = tweaked({ latent: { aspect: 'custom', width: 4096, height: 4096, frames: 7200, fps: 60 }, sampler: { steps: 200 } });

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer({ registry: createRegistry() });
});
afterAll(async () => {
  await server?.stop();
});

type Issue = NonNullable<ErrorBody['error']['issues']>[number];
const find = (issues: Issue[], pointer: string) => issues.find((i) => i.pointer === pointer);

describe('POST /api/prompt', () => {
  it('refuses the in-range 4096², 7,200-frame, 200-step prompt with 422 naming node, param and limit, while /api/queue answers', async () => {
    const [refused, queue] = await Promise.all([
      postJson<ErrorBody>(server.base, '/api/prompt', { workflow: huge }),
      getJson<{ pending: unknown[]; running: unknown[] }>(server.base, '/api/queue'),
    ]);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('over_limit');
    const issues = refused.body.error.issues!;
    expect(issues.every((i) => i.code === 'over_limit')).toBe(true);
    expect(find(issues, '/nodes/4/params/width')).toMatchObject({ nodeId: 'latent' });
    expect(find(issues, '/nodes/4/params/width')!.message).toBe("4096×4096 per frame is 16,777,216, over this server's limit of 8,294,400 (maxPixels, --max-pixels)");
    expect(find(issues, '/nodes/4/params/frames')!.message).toContain("7200 frames is 7,200, over this server's limit of 3,600 (maxFrames, --max-frames)");
    // 7200/4 = 1,800 latent frames sampled in skyloom-tiny's 4-latent-frame windows, each later one
    // held to 1: 1 + ⌈1,796 / 3⌉ = 600 windows of 4096/8 × 4096/8 × 4 tokens (patch 1×1×1), × 200 steps × 2
    // (guidance).
    const work = find(issues, '/nodes/5/params/steps')!;
    expect(work.nodeId).toBe('sampler');
    expect(work.message).toContain(`(most of it 600 windows × ${(512 * 512 * 4).toLocaleString('en-US')} latent tokens × 200 steps × 2 (guidance))`);
    expect(work.message).toContain(`is ${(600 * 512 * 512 * 4 * 200 * 2).toLocaleString('en-US')}, over this server's limit of 50,000,000 (maxWork, --max-work)`);
    // The attention is one window's.
    const memory = issues.find((i) => i.nodeId === 'sampler' && i.message.includes('(maxMemoryBytes, --max-memory)'))!;
    expect(memory.message).toContain(`Attention over ${(512 * 512 * 4).toLocaleString('en-US')} latent tokens (one 4-latent-frame window of 600; 4096×4096, 7200 frames)`);
    expect(issues.some((i) => i.nodeId === 'sampler' && i.message.includes('(maxMemoryBytes, --max-memory)'))).toBe(true);
    expect(issues.some((i) => i.nodeId === 'decode' && i.message.includes('(maxTempBytes, --max-temp)'))).toBe(true);

    expect(queue.status).toBe(200);
    expect(queue.body).toEqual({ running: [], pending: [] });
    const history = await getJson<{ total: number }>(server.base, '/api/history');
    expect(history.body.total).toBe(0);
    // Nothing was allocated for it: no frame store, no output.
    expect(readdirSync(join(server.dataDir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(server.dataDir, 'output')).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('admits the shipped text-to-video workflow as it is', async () => {
    const r = await postJson<ValidateResponse>(server.base, '/api/validate', { workflow: textToVideo });
    expect(r.body.valid).toBe(true);
  });

  it('refuses load-video resized to 8192² before it decodes a frame', async () => {
    const wf = { format: 'skyloom-workflow', version: 1, nodes: [{ id: 'in', type: 'load-video', params: { path: 'x.mp4', width: 8192, height: 8192 } }] };
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: wf });
    expect(r.status).toBe(422);
    expect(r.body.error.issues).toEqual([
      {
        code: 'over_limit',
        nodeId: 'in',
        pointer: '/nodes/0/params/width',
        message: "Resizing to 8192×8192 per frame is 67,108,864, over this server's limit of 8,294,400 (maxPixels, --max-pixels)",
      },
    ]);
  });

  it('refuses a 7.5 MB body with 413, and a 100 KB prompt text with 422 naming the param', async () => {
    const big = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: tweaked({ prompt: { text: 'a'.repeat(7_500_000) } }) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const long = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: tweaked({ prompt: { text: 'a'.repeat(100_000) } }) });
    expect(long.status).toBe(422);
    expect(find(long.body.error.issues!, '/nodes/1/params/text')).toMatchObject({
      nodeId: 'prompt',
      message: 'Param "text" (text) is 97.7 KiB, over this server\'s limit of 64.0 KiB (maxStringBytes, --max-string)',
    });
  });

  it('refuses a workflow too large to embed in its output before running it', async () => {
    const nodes = [...textToVideo.nodes, ...[1, 2, 3].map((i) => ({ id: `note${i}`, type: 'text', params: { value: 'n'.repeat(50_000) } }))];
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: { ...textToVideo, nodes } });
    expect(r.status).toBe(422);
    const issue = r.body.error.issues!.find((i) => i.nodeId === 'save')!;
    expect(issue.pointer).toBe('/nodes/7');
    expect(issue.message).toMatch(/^The workflow embedded in the output file is 14\d\.\d KiB, over this server's limit of 128\.0 KiB/);
  });

  it('refuses crf 60 for mp4 and a bad filename_prefix at validation, with their pointers', async () => {
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: tweaked({ save: { crf: 60, filename_prefix: '../x' } }) });
    expect(r.status).toBe(400);
    const issues = r.body.error.issues!;
    expect(find(issues, '/nodes/7/params/crf')!.message).toBe('crf 60 is above 51, the highest H.264 (mp4) takes; webm takes up to 63');
    expect(find(issues, '/nodes/7/params/filename_prefix')!.message).toContain('filename_prefix "../x" may hold only');
    const webm = await postJson<ValidateResponse>(server.base, '/api/validate', { workflow: tweaked({ save: { crf: 60, format: 'webm' } }) });
    expect(webm.body.valid).toBe(true);
  });

  it('refuses a 10,000-node workflow naming the node limit', async () => {
    const nodes = Array.from({ length: 10_000 }, (_, i) => ({ id: `n${i}`, type: 'int', params: { value: i } }));
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: { format: 'skyloom-workflow', version: 1, nodes } });
    expect(r.status).toBe(422);
    expect(r.body.error.issues).toEqual([
      { code: 'over_limit', pointer: '/nodes', message: "The node count is 10,000, over this server's limit of 1,000 (maxNodes, --max-nodes)" },
    ]);
  });
});

describe('operator limits', () => {
  it('a server started with a lower limit refuses what the default admits', async () => {
    const s = await startServer({ registry: createRegistry(), limits: { maxFrames: 8 } });
    try {
      const r = await postJson<ErrorBody>(s.base, '/api/prompt', { workflow: textToVideo });
      expect(r.status).toBe(422);
      expect(r.body.error.issues).toEqual([
        { code: 'over_limit', nodeId: 'latent', pointer: '/nodes/4/params/seconds', message: "16 frames is 16, over this server's limit of 8 (maxFrames, --max-frames)" },
      ]);
    } finally {
      await s.stop();
    }
  });

  it('a linked param is estimated from the primitive that feeds it', async () => {
    const registry = createRegistry();
    const wf = {
      ...huge,
      nodes: [
        ...huge.nodes.map((n) =>
          n.id === 'sampler' ? { ...n, params: { ...n.params, steps: undefined }, inputs: { ...n.inputs, steps: { node: 'steps', output: 'value' } } } : n,
        ),
        { id: 'steps', type: 'int', params: { value: 10 } },
      ],
    } as Workflow;
    const limits = { ...defaultLimits(64 * 1024 ** 3, 1024 ** 4), maxPixels: 1e9, maxFrames: 1e9, maxMemoryBytes: 1e30, maxTempBytes: 1e30, maxVideoSeconds: 1e9 };
    const json = JSON.parse(JSON.stringify(wf)) as Workflow;
    await expect(admit(await validateWorkflow(json, registry), limits)).rejects.toThrow(
      `600 windows × ${(512 * 512 * 4).toLocaleString('en-US')} latent tokens × 10 steps × 2 (guidance)`,
    );
  });
});

const registry = createRegistry();
const roomy = { ...defaultLimits(64 * 1024 ** 3, 1024 ** 4) };
const shipped = (file: string) => JSON.parse(readFileSync(join(import.meta.dirname, '../../workflows', file), 'utf8')) as Workflow;
/** The issues admit() raises for a workflow under `limits` (none when it is admitted). */
async function refusal(wf: Workflow, limits = roomy): Promise<Issue[]> {
  try {
    await admit(await validateWorkflow(wf, registry), limits);
    return [];
  } catch (error) {
    return (error as { issues: Issue[] }).issues;
  }
}

describe('estimates of text-encode, loop and connect', () => {
  it("text-encode holds the model's text encoder: its weights' bytes against the memory limit, named on the model input", async () => {
    const bytes = statSync(join(import.meta.dirname, '../../models/packages/skyloom-tiny/text_encoder/model.onnx')).size;
    const issues = await refusal(textToVideo, { ...roomy, maxMemoryBytes: 1024 * 1024 });
    const message = `The text encoder of skyloom-tiny (its weights, held while encoding) is ${(bytes / 1024 ** 2).toFixed(1)} MiB, over this server's limit of 1.0 MiB (maxMemoryBytes, --max-memory)`;
    expect(issues.sort((a, b) => a.pointer.localeCompare(b.pointer))).toEqual([
      { code: 'over_limit', nodeId: 'positive', pointer: '/nodes/2/inputs/model', message },
      { code: 'over_limit', nodeId: 'negative', pointer: '/nodes/3/inputs/model', message },
    ]);
    expect(await refusal(textToVideo, { ...roomy, maxMemoryBytes: bytes })).toEqual([]);
  });

  it("loop: the clip and its transition count as one video, and the transition's windows as work", async () => {
    const wf = shipped('loop.json');
    const loopAt = wf.nodes.findIndex((n) => n.id === 'loop');
    wf.nodes[loopAt]!.params = { ...wf.nodes[loopAt]!.params, context: 32, frames: 64 };
    // A 4-second clip, so its 32 frames hold the 32 context frames.
    wf.nodes.find((n) => n.id === 'latent')!.params!.seconds = 4;
    // 32 clip frames + 64 generated. The transition's 16 latent frames go between 8 of the clip's
    // at each end in skyloom-tiny's 4-latent-frame windows (each later one held to 1), in three
    // passes: its first 8 forward from 1 of the clip's end (3 windows), its last 8 backward from 2
    // of its start (3 windows), at 20 steps; then the bridge over all 16, five windows of 3 new
    // and a closing one held to 1 and to 2 of the clip's start, at 9 of the 20 steps (strength
    // 0.45). (6 × 20 + 6 × 9) windows × 4 latent frames of 4×4 tokens × 2 (22,272), plus the
    // clip's own 8 latent frames in 3 windows × 64 tokens × 20 steps × 2 (7,680).
    const issues = await refusal(wf, { ...roomy, maxFrames: 95, maxWork: 22_272 + 7_680 - 1 });
    expect(issues).toContainEqual({
      code: 'over_limit',
      nodeId: 'loop',
      pointer: `/nodes/${loopAt}/params/frames`,
      message: "96 frames is 96, over this server's limit of 95 (maxFrames, --max-frames)",
    });
    const work = issues.find((i) => i.message.startsWith("The prompt's work"))!;
    expect(work).toMatchObject({ nodeId: 'loop', pointer: `/nodes/${loopAt}/params/steps` });
    expect(work.message).toContain(
      "(most of it 6 windows × 256 latent tokens × 20 steps × 2 (guidance) (the transition's halves), then 6 windows × 256 × 9 steps × 2 (guidance) (where they meet)) is 119,808",
    );
    expect(await refusal(wf, { ...roomy, maxFrames: 96, maxWork: 119_808 })).toEqual([]);
  });

  it('connect: first clip, transition and second clip make one video', async () => {
    const wf = shipped('loop.json');
    // Both clips generated here, so their length is known before running: the same clip twice.
    const at = wf.nodes.findIndex((n) => n.id === 'loop');
    const node = wf.nodes[at]!;
    wf.nodes[at] = { ...node, type: 'connect', inputs: { ...node.inputs, first: node.inputs!.video!, second: node.inputs!.video! } };
    delete wf.nodes[at]!.inputs!.video;
    const issues = await refusal(wf, { ...roomy, maxFrames: 39 });
    expect(issues).toEqual([
      { code: 'over_limit', nodeId: 'loop', pointer: `/nodes/${at}/params/frames`, message: "40 frames is 40, over this server's limit of 39 (maxFrames, --max-frames)" },
    ]);
    // The 8-frame transition and a latent frame of each clip fit one window: each half is one
    // window at 20 steps, the bridge one at 9. (2 × 20 + 9) × 256 tokens × 2, plus the clip (10,240).
    const work = (await refusal(wf, { ...roomy, maxWork: 1 })).find((i) => i.message.startsWith("The prompt's work"))!;
    expect(work.message).toContain(
      "(most of it 2 windows × 256 latent tokens × 20 steps × 2 (guidance) (the transition's halves), then 1 window × 256 × 9 steps × 2 (guidance) (where they meet)) is 35,328",
    );
  });
});

describe('input problems the estimates find', () => {
  const loopWorkflow = (latent: Record<string, unknown>, loop: Record<string, unknown>, between?: Workflow['nodes'][number]): Workflow => {
    const wf = shipped('loop.json');
    Object.assign(wf.nodes.find((n) => n.id === 'latent')!.params!, latent);
    const node = wf.nodes.find((n) => n.id === 'loop')!;
    Object.assign(node.params!, loop);
    if (between) {
      wf.nodes.push(between);
      node.inputs = { ...node.inputs, video: { node: between.id, output: 'video' } };
    }
    return wf;
  };

  /** An extend of the loop workflow's decoded clip, wired to its model and prompts. */
  const extendOf = (id: string, params: Record<string, number>): Workflow['nodes'][number] => ({
    id,
    type: 'extend',
    inputs: {
      model: { node: 'model', output: 'model' },
      positive: { node: 'positive', output: 'conditioning' },
      negative: { node: 'negative', output: 'conditioning' },
      video: { node: 'decode', output: 'video' },
    },
    params,
  });

  it('refuses a loop whose context is longer than the clip made for it, before anything runs, naming the node and its param', async () => {
    const wf = loopWorkflow({}, { context: 32 });
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: wf });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([
      { code: 'input_mismatch', nodeId: 'loop', pointer: '/nodes/7/params/context', message: 'The video has 16 frames, fewer than the 32 context frames' },
    ]);
    // /validate gives the same issues with a 200; nothing was queued or run.
    const v = await postJson<ValidateResponse>(server.base, '/api/validate', { workflow: wf });
    expect(v.body).toEqual({ valid: false, issues: r.body.error.issues });
    expect((await getJson<{ pending: unknown[]; running: unknown[] }>(server.base, '/api/queue')).body).toEqual({ running: [], pending: [] });
    expect(readdirSync(join(server.dataDir, 'tmp'))).toEqual([]);
  });

  it("counts the clip as the run will make it: seconds rounded to the model's frame grid", async () => {
    // 2.5 s at 6 fps is 15 frames; skyloom-tiny makes 16 (a multiple of 4), which 16 context frames fit.
    expect(await refusal(loopWorkflow({ seconds: 2.5, fps: 6 }, { context: 16 }))).toEqual([]);
    // 1.5 s at 6 fps is 9 frames, made as 8: 12 context frames are more.
    expect(await refusal(loopWorkflow({ seconds: 1.5, fps: 6 }, { context: 12 }))).toEqual([
      { code: 'input_mismatch', nodeId: 'loop', pointer: '/nodes/7/params/context', message: 'The video has 8 frames, fewer than the 12 context frames' },
    ]);
  });

  it('names each clip of a connect that is too short, and passes the one that is long enough', async () => {
    const wf = loopWorkflow({}, {});
    const at = wf.nodes.findIndex((n) => n.id === 'loop');
    const node = wf.nodes[at]!;
    // The second clip is the first extended by 2 s (32 frames); context 20 is more than the first's 16.
    wf.nodes.push(extendOf('longer', { seconds: 2 }));
    wf.nodes[at] = {
      ...node,
      type: 'connect',
      params: { ...node.params, context: 20 },
      inputs: { ...node.inputs, first: node.inputs!.video!, second: { node: 'longer', output: 'video' } },
    };
    delete wf.nodes[at]!.inputs!.video;
    expect(await refusal(wf)).toEqual([
      { code: 'input_mismatch', nodeId: 'loop', pointer: `/nodes/${at}/params/context`, message: 'The first video has 16 frames, fewer than the 20 context frames' },
    ]);
  });

  it("refuses what the time nodes would refuse once the model's manifest is read: counts off its frame grid, no room in its window, clips not at its sizes", async () => {
    // loop's transition and context must be multiples of skyloom-tiny's 4 frames per latent frame.
    // The params' own step catches a number typed in (param_step); a count linked from a primitive
    // is checked against the model's grid.
    const linked = loopWorkflow({}, {});
    const loop = linked.nodes.find((n) => n.id === 'loop')!;
    delete loop.params!.context;
    delete loop.params!.frames;
    loop.inputs = { ...loop.inputs, context: { node: 'six', output: 'value' }, frames: { node: 'ten', output: 'value' } };
    linked.nodes.push({ id: 'six', type: 'int', params: { value: 6 } }, { id: 'ten', type: 'int', params: { value: 10 } });
    expect(await refusal(linked)).toEqual([
      { code: 'input_mismatch', nodeId: 'loop', pointer: '/nodes/7/inputs/context', message: 'Context must be a positive multiple of 4 frames but is 6' },
      { code: 'input_mismatch', nodeId: 'loop', pointer: '/nodes/7/inputs/frames', message: 'The transition must be a positive multiple of 4 frames but is 10' },
    ]);
    // A clip resized off the model's sizes, named by the input that brings it.
    const resized = {
      id: 'big',
      type: 'resize',
      inputs: { video: { node: 'decode', output: 'video' } },
      params: { preset: 'custom', width: 80, height: 80 },
    } as Workflow['nodes'][number];
    expect(await refusal(loopWorkflow({}, {}, resized))).toEqual([
      {
        code: 'input_mismatch',
        nodeId: 'loop',
        pointer: '/nodes/7/inputs/video',
        message: 'The video is 80×80; the model generates at 64×64, 112×64, 64×112 — resize it first (load-video width/height)',
      },
    ]);
    // extend: its context must leave new frames in the model's 16-frame window.
    const wf = loopWorkflow({}, {});
    const extend = (context: number) => {
      const copy = structuredClone(wf);
      copy.nodes.push(extendOf('more', { seconds: 1, context }));
      return copy;
    };
    expect(await refusal(extend(16))).toEqual([
      { code: 'input_mismatch', nodeId: 'more', pointer: '/nodes/9/params/context', message: "Context of 16 frames leaves no room for new frames in the model's 16-frame window" },
    ]);
    expect(await refusal(extend(12))).toEqual([]);
  });

  it('refuses a connect between clips of different sizes, naming the second', async () => {
    const wf = loopWorkflow({}, {});
    const at = wf.nodes.findIndex((n) => n.id === 'loop');
    const node = wf.nodes[at]!;
    wf.nodes.push({ id: 'wide', type: 'resize', inputs: { video: { node: 'decode', output: 'video' } }, params: { preset: 'custom', width: 112, height: 64 } });
    wf.nodes[at] = { ...node, type: 'connect', inputs: { ...node.inputs, first: node.inputs!.video!, second: { node: 'wide', output: 'video' } } };
    delete wf.nodes[at]!.inputs!.video;
    expect(await refusal(wf)).toEqual([
      { code: 'input_mismatch', nodeId: 'loop', pointer: `/nodes/${at}/inputs/second`, message: 'The videos differ in size: 64×64 and 112×64; resize one first' },
    ]);
  });

  it('leaves a clip whose length is only bounded (a trim) to the run', async () => {
    const trim = { id: 'cut', type: 'trim', inputs: { video: { node: 'decode', output: 'video' } }, params: {} } as Workflow['nodes'][number];
    expect(await refusal(loopWorkflow({}, { context: 32 }, trim))).toEqual([]);
  });
});

describe('the route', () => {
  it('a refusal leaves the server serving', async () => {
    expect((await raw(server.base, 'GET', '/api/queue')).status).toBe(200);
  });
});
