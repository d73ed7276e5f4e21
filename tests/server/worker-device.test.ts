// `skyloom worker --device cpu` pins every model-using node (load-model and upscale) to the CPU: no session of that worker asks for CUDA.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HistoryEntry, PromptResponse } from '../../protocol/index.js';
import { createRegistry } from '../../nodes/index.js';
import { RemoteWorker } from '../../server/redis/worker.js';
import { postJson, quietLog, settled, startServer, tempDir, workflow } from './helpers.js';
import { startRedis, type RedisProcess } from './redis.js';

// Every session the process opens, with the device it asked ONNX Runtime for.
const sessions = vi.hoisted(() => [] as Array<{ path: string; device: string }>);
vi.mock('../../models/runtime/onnx.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../models/runtime/onnx.js')>();
  return {
    ...actual,
    createSession: (path: string, options: Parameters<typeof actual.createSession>[1] = {}) => {
      sessions.push({ path, device: options.device ?? 'auto' });
      return actual.createSession(path, options);
    },
  };
});

describe('worker --device cpu', () => {
  let redis: RedisProcess;
  let server: Awaited<ReturnType<typeof startServer>>;
  let worker: RemoteWorker;

  beforeAll(async () => {
    redis = await startRedis();
    const dataDir = tempDir();
    server = await startServer({ queue: redis.url, dataDir, registry: createRegistry() });
    worker = new RemoteWorker({ url: redis.url, dataDir, registry: createRegistry(), device: 'cpu', log: quietLog });
    await worker.start();
  });

  afterAll(async () => {
    await worker?.stop(true);
    await server?.stop();
    await redis?.stop();
  });

  it('announces only the CPU, and opens every session of a text-to-video + upscale prompt on the CPU although the nodes say auto', async () => {
    expect(worker.capabilities).toContain('device:cpu');
    expect(worker.capabilities).not.toContain('device:cuda');
    const link = (node: string, output: string) => ({ node, output });
    const w = workflow(
      { id: 'model', type: 'load-model', params: { name: 'skyloom-tiny', device: 'auto' } },
      { id: 'pos', type: 'text-encode', params: { text: 'a red circle moving left on a black background' }, inputs: { model: link('model', 'model') } },
      { id: 'latent', type: 'empty-latent', params: { frames: 8, fps: 8 }, inputs: { model: link('model', 'model') } },
      {
        id: 'sample',
        type: 'dit-sampler',
        params: { steps: 2, guidance: 1 },
        inputs: { model: link('model', 'model'), positive: link('pos', 'conditioning'), latent: link('latent', 'latent') },
      },
      { id: 'decode', type: 'vae-decode', inputs: { model: link('model', 'model'), latent: link('sample', 'latent') } },
      { id: 'up', type: 'upscale', params: { model: 'esrgan-slim-2x', device: 'auto' }, inputs: { video: link('decode', 'video') } },
      { id: 'save', type: 'save-video', inputs: { video: link('up', 'video') } },
    );
    const queued = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: w });
    expect(queued.status, JSON.stringify(queued.body)).toBe(200);
    const entry = await settled<HistoryEntry>(server.base, queued.body.promptId, 240_000);
    expect(entry.status, JSON.stringify(entry)).toBe('success');
    const files = Object.values(entry.outputs ?? {}).flatMap((ui) => ui.files ?? []);
    expect(files).toHaveLength(1);
    expect(files[0].filename).toMatch(/\.mp4$/);
    expect(existsSync(join(server.dataDir, 'output', files[0].filename))).toBe(true);

    // The DiT, the text encoder, the VAE and the upscaler were all opened, every one on the CPU.
    const paths = sessions.map((s) => s.path).join('\n');
    expect(paths).toMatch(/transformer\/model\.onnx/);
    expect(paths).toMatch(/text_encoder\/model\.onnx/);
    expect(paths).toMatch(/esrgan/i);
    expect(sessions.filter((s) => s.device !== 'cpu')).toEqual([]);
  }, 300_000);
});
