import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSession, parseDevice, releaseSession, runSession, sessionOnWorker, sessionsOffThread, EXECUTION_PROVIDERS } from '../../models/runtime/onnx.js';
import type { ModelLogger } from '../../models/runtime/onnx.js';
import { ModelLoadError, ModelRunError, UnsupportedDeviceError } from '../../models/errors.js';
import { SessionCache } from '../../models/session-cache.js';
import { float32, int64 } from '../../models/tensor.js';
import { VideoModel } from '../../models/video-model.js';
import { buildModel } from './fixtures/onnx-builder.js';
import { slowChain, slowChainReference } from './fixtures/slow-transformer.js';

let dir: string;
let addPath: string;
// Where onnxruntime-node's CUDA provider lives when the CUDA build is installed.
const cudaProviderPath = join(
  dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node'))),
  'bin/napi-v6',
  process.platform,
  process.arch,
  'libonnxruntime_providers_cuda.so',
);
let slowPath: string;
const root = resolve(import.meta.dirname, '../..');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skyloom-ort-'));
  addPath = join(dir, 'add.onnx');
  // y = a + b (float32 [batch, 3]); n = ids · 2 (int64 [batch])
  await writeFile(
    addPath,
    buildModel({
      inputs: [
        { name: 'a', type: 'float32', shape: ['batch', 3] },
        { name: 'b', type: 'float32', shape: ['batch', 3] },
        { name: 'ids', type: 'int64', shape: ['batch'] },
      ],
      outputs: [
        { name: 'y', type: 'float32', shape: ['batch', 3] },
        { name: 'n', type: 'int64', shape: ['batch'] },
      ],
      nodes: [
        { op: 'Add', inputs: ['a', 'b'], outputs: ['y'] },
        { op: 'Mul', inputs: ['ids', 'two'], outputs: ['n'] },
      ],
      initializers: [{ name: 'two', dims: [], data: BigInt64Array.of(2n) }],
    }),
  );
  slowPath = join(dir, 'slow.onnx');
  await writeFile(slowPath, buildModel(slowChain()));
});

function recorder(): ModelLogger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, info: (m) => infos.push(m), warn: (m) => warnings.push(m) };
}

/** Runs a TypeScript file in a new Node process with sessions on the worker thread. */
function runChild(script: string, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    // A held worker would keep the child running; the kill turns that hang into a failed exit code.
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, SKYLOOM_ORT_THREAD: '1' }, timeout: 45_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Runs the enclosed tests with new sessions on the worker thread (the default) or on the calling thread. */
function placed(offThread: boolean): void {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env['SKYLOOM_ORT_THREAD'];
    if (offThread) delete process.env['SKYLOOM_ORT_THREAD'];
    else process.env['SKYLOOM_ORT_THREAD'] = '0';
  });
  afterAll(() => {
    if (saved === undefined) delete process.env['SKYLOOM_ORT_THREAD'];
    else process.env['SKYLOOM_ORT_THREAD'] = saved;
  });
}

describe.each([
  { where: 'on the worker thread', offThread: true },
  { where: 'on the calling thread (SKYLOOM_ORT_THREAD=0)', offThread: false },
])('runtime/onnx, sessions $where', ({ offThread }) => {
  placed(offThread);

  it("rejects with the signal's reason when aborted before the call", async () => {
    const session = await createSession(addPath, { device: 'cpu' });
    const controller = new AbortController();
    const reason = new Error('stop now');
    controller.abort(reason);
    const feeds = { a: float32([1, 3], [1, 2, 3]), b: float32([1, 3], [1, 1, 1]), ids: int64([1], [1]) };
    await expect(runSession(session, feeds, undefined, { signal: controller.signal })).rejects.toBe(reason);
    expect((await runSession(session, feeds))['y'].data).toEqual(Float32Array.of(2, 3, 4));
    await releaseSession(session);
  });

  it('places sessions where the switch says', async () => {
    expect(sessionsOffThread()).toBe(offThread);
    const session = await createSession(addPath, { device: 'cpu' });
    expect(sessionOnWorker(session)).toBe(offThread);
    await releaseSession(session);
    expect(sessionOnWorker(session)).toBeUndefined();
  });

  it('auto uses CUDA when it loads, else falls back to the CPU and logs why; cuda alone fails clearly', async () => {
    const logger = recorder();
    const session = await createSession(addPath, { device: 'auto', logger });
    if (session.device === 'cpu') {
      // The CPU-only install (no CUDA provider library) is the normal case: its reason is info, not a warning.
      const notes = existsSync(cudaProviderPath) ? logger.warnings : logger.infos;
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^device auto: CUDA is not available \(.+\); using the CPU$/);
      if (!existsSync(cudaProviderPath)) expect(logger.warnings).toEqual([]);
      const error = await createSession(addPath, { device: 'cuda' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as ModelLoadError).code).toBe('DEVICE_UNAVAILABLE');
      expect((error as ModelLoadError).message).toContain(`${addPath}: cannot create a CUDA session`);
    } else {
      expect(logger.warnings).toEqual([]);
      expect((await createSession(addPath, { device: 'cuda' })).device).toBe('cuda');
    }
    await releaseSession(session);
  });

  it('rejects unknown devices listing the valid choices', async () => {
    expect(() => parseDevice('gpu')).toThrow('Unsupported device "gpu". Should be one of: cpu, cuda, auto');
    await expect(createSession(addPath, { device: 'tpu' as 'cpu' })).rejects.toThrow(UnsupportedDeviceError);
    expect(EXECUTION_PROVIDERS.cpu).toEqual(['cpu']);
  });

  it('reports names, element types and symbolic shapes', async () => {
    const session = await createSession(addPath, { device: 'cpu', intraOpNumThreads: 1 });
    expect(session.device).toBe('cpu');
    expect(session.inputs).toEqual([
      { name: 'a', type: 'float32', shape: ['batch', 3] },
      { name: 'b', type: 'float32', shape: ['batch', 3] },
      { name: 'ids', type: 'int64', shape: ['batch'] },
    ]);
    expect(session.outputs.map((o) => o.name)).toEqual(['y', 'n']);
    await releaseSession(session);
  });

  it('runs with plain tensors in and out', async () => {
    const session = await createSession(addPath, { device: 'cpu' });
    const out = await runSession(session, {
      a: float32([2, 3], [1, 2, 3, 4, 5, 6]),
      b: float32([2, 3], [10, 20, 30, 40, 50, 60]),
      ids: int64([2], [3, 7]),
    });
    expect(out['y']).toEqual({ type: 'float32', dims: [2, 3], data: Float32Array.of(11, 22, 33, 44, 55, 66) });
    expect(out['n']).toEqual({ type: 'int64', dims: [2], data: BigInt64Array.of(6n, 14n) });
    // Feeds stay usable (nothing of the caller's is transferred away), views included.
    const backing = Float32Array.of(9, 1, 2, 3, 9);
    const a = float32([1, 3], backing.subarray(1, 4));
    const again = await runSession(session, { a, b: a, ids: int64([1], [5]) });
    expect(Array.from(a.data)).toEqual([1, 2, 3]);
    expect(Array.from(backing)).toEqual([9, 1, 2, 3, 9]);
    expect(again['y'].data).toEqual(Float32Array.of(2, 4, 6));
    const onlyN = await runSession(session, { a: float32([1, 3], [0, 0, 0]), b: float32([1, 3], [0, 0, 0]), ids: int64([1], [1]) }, ['n']);
    expect(Object.keys(onlyN)).toEqual(['n']);
    const failed = await runSession(session, { a: float32([1, 3], [0, 0, 0]) }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ModelRunError);
    expect((failed as ModelRunError).message).toMatch(new RegExp(`^${addPath}: run failed \\(.+\\)$`));
    expect((failed as ModelRunError).path).toBe(addPath);
    await releaseSession(session);
    await releaseSession(session); // twice is a no-op
    await expect(runSession(session, {})).rejects.toThrow(`${addPath}: session was released`);
  });

  it('names the file when it is not a loadable model', async () => {
    const bad = join(dir, 'corrupt.onnx');
    await writeFile(bad, Buffer.from('definitely not protobuf'));
    const error = await createSession(bad, { device: 'cpu' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('ONNX_INVALID');
    expect((error as ModelLoadError).path).toBe(bad);
    expect((error as ModelLoadError).message).toContain(`${bad}: not a loadable ONNX model`);
  });
});

describe('runtime/onnx on the worker thread', () => {
  it('an abort during a call rejects at once; the worker finishes that call and serves the next one', async () => {
    const session = await createSession(slowPath, { device: 'cpu', intraOpNumThreads: 1 });
    expect(sessionOnWorker(session)).toBe(true);
    const big = float32(
      [2048, 256],
      Float32Array.from({ length: 2048 * 256 }, (_, i) => i % 251),
    );
    const controller = new AbortController();
    const reason = new Error('interrupted by the test');
    const running = runSession(session, { x: big }, undefined, { signal: controller.signal });
    // The next turn of this thread's loop: the worker cannot have finished 2048 × 64 MatMul rows yet.
    setImmediate(() => controller.abort(reason));
    await expect(running).rejects.toBe(reason);
    const x = Float32Array.from({ length: 2 * 256 }, (_, i) => i);
    const out = await runSession(session, { x: float32([2, 256], x) });
    expect(out['y']).toEqual({ type: 'float32', dims: [2, 256], data: slowChainReference(x) });
    await releaseSession(session);
  });

  it("hands feeds over without a copy when asked: the caller's arrays are detached, views are copied", async () => {
    const session = await createSession(addPath, { device: 'cpu' });
    const a = float32([1, 3], [1, 2, 3]);
    const backing = Float32Array.of(7, 10, 20, 30);
    const b = float32([1, 3], backing.subarray(1));
    const out = await runSession(session, { a, b, ids: int64([1], [21]) }, undefined, { transferFeeds: true });
    expect(out['y'].data).toEqual(Float32Array.of(11, 22, 33));
    expect(out['n'].data).toEqual(BigInt64Array.of(42n));
    expect(a.data.length).toBe(0);
    expect(Array.from(backing)).toEqual([7, 10, 20, 30]);
    // Outputs own their buffers, so feeding them back costs no copy either.
    const again = await runSession(session, { a: out['y'], b: out['y'], ids: out['n'] }, undefined, { transferFeeds: true });
    expect(again['y'].data).toEqual(Float32Array.of(22, 44, 66));
    expect(out['y'].data.length).toBe(0);
    await releaseSession(session);
  });

  it('gives the shipped model the same latents and frames as the calling thread', async () => {
    const generate = async (offThread: boolean) => {
      const saved = process.env['SKYLOOM_ORT_THREAD'];
      process.env['SKYLOOM_ORT_THREAD'] = offThread ? '1' : '0';
      const sessions = new SessionCache({ budgetBytes: 1e9 });
      try {
        const model = await VideoModel.load('skyloom-tiny', { device: 'cpu', threads: 1, sessions });
        const cond = await model.encodeText(['a red circle moving left on a black background']);
        const uncond = await model.encodeText(['']);
        const latents = await model.denoise({ shape: model.latentShape(64, 64, 16), cond, uncond, seed: 7, steps: 3 });
        const frames = [];
        for await (const chunk of model.decode(latents)) frames.push(chunk);
        return { latents, frames };
      } finally {
        await sessions.clear();
        if (saved === undefined) delete process.env['SKYLOOM_ORT_THREAD'];
        else process.env['SKYLOOM_ORT_THREAD'] = saved;
      }
    };
    const worker = await generate(true);
    const caller = await generate(false);
    expect(worker.latents.dims).toEqual([1, 8, 4, 8, 8]);
    expect(worker.latents).toEqual(caller.latents);
    expect(worker.frames.map((c) => c.frames).reduce((a, b) => a + b)).toBe(16);
    expect(worker.frames).toEqual(caller.frames);
  });

  it('exits cleanly, by process.exit() or by running out of work, while an abandoned call still runs on the worker', async () => {
    const script = join(dir, 'exit-mid-call.mts');
    const onnx = pathToFileURL(join(root, 'models/runtime/onnx.ts')).href;
    await writeFile(
      script,
      [
        `import { createSession, runSession } from ${JSON.stringify(onnx)};`,
        `const s = await createSession(${JSON.stringify(slowPath)}, { device: 'cpu', intraOpNumThreads: 1 });`,
        `const controller = new AbortController();`,
        `const x = { type: 'float32', dims: [8192, 256], data: new Float32Array(8192 * 256) };`,
        `runSession(s, { x }, undefined, { signal: controller.signal }).catch((e) => console.log(e.message));`,
        `setImmediate(() => {`,
        `  controller.abort(new Error('interrupted'));`,
        `  if (process.argv[2] === 'exit') process.exit(130); else process.exitCode = 130;`,
        `});`,
      ].join('\n'),
    );
    for (const how of ['exit', 'natural']) {
      const result = await runChild(script, [how]);
      // Torn down mid-call, the worker would abort the process (134, "terminate called … Napi::Error").
      expect(result.stderr).toBe('');
      expect(result.code).toBe(130);
      expect(result.stdout).toBe(how === 'exit' ? '' : 'interrupted\n');
    }
  });

  it('does not keep a process alive once its calls are done, even with sessions still open', async () => {
    const script = join(dir, 'leave-open.mts');
    const onnx = pathToFileURL(join(root, 'models/runtime/onnx.ts')).href;
    await writeFile(
      script,
      [
        `import { createSession, runSession, sessionOnWorker } from ${JSON.stringify(onnx)};`,
        `const s = await createSession(${JSON.stringify(addPath)}, { device: 'cpu' });`,
        `const f = (v) => ({ type: 'float32', dims: [1, 3], data: Float32Array.of(v, v, v) });`,
        `const out = await runSession(s, { a: f(1), b: f(2), ids: { type: 'int64', dims: [1], data: BigInt64Array.of(4n) } });`,
        `console.log(JSON.stringify({ onWorker: sessionOnWorker(s), y: Array.from(out.y.data), n: String(out.n.data[0]) }));`,
      ].join('\n'),
    );
    const result = await runChild(script);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ onWorker: true, y: [3, 3, 3], n: '8' });
  });
});
