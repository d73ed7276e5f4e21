import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createSession, parseDevice, releaseSession, runSession, EXECUTION_PROVIDERS } from '../../models/runtime/onnx.js';
import type { ModelLogger } from '../../models/runtime/onnx.js';
import { ModelLoadError, UnsupportedDeviceError } from '../../models/errors.js';
import { float32, int64 } from '../../models/tensor.js';
import { buildModel } from './fixtures/onnx-builder.js';

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
});

function recorder(): ModelLogger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, info: (m) => infos.push(m), warn: (m) => warnings.push(m) };
}

describe('runtime/onnx', () => {
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
    const onlyN = await runSession(session, { a: float32([1, 3], [0, 0, 0]), b: float32([1, 3], [0, 0, 0]), ids: int64([1], [1]) }, ['n']);
    expect(Object.keys(onlyN)).toEqual(['n']);
    await expect(runSession(session, { a: float32([1, 3], [0, 0, 0]) })).rejects.toThrow(`${addPath}: run failed`);
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
