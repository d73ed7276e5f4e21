// The queue engine's pure parts: reading --queue, what a workflow requires, routing names, seeded workflows; and the embedded queue refusing a fan-out.

import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../nodes/index.js';
import { seededWorkflow, splitParam } from '../../server/redis/queue.js';
import { decodePreviewFrame, PREVIEW_RGB24, type RawPreviewMetadata } from '../../protocol/index.js';
import { canRun, packPreview, QueueConnectionError, redisOptions, requirementsOf, routeName, unpackPreview } from '../../server/redis/wire.js';
import { postJson, startServer, workflow } from './helpers.js';
import { freePort } from './redis.js';

const model = (name: string, device = 'auto') => ({ id: `m-${name}`, type: 'load-model', params: { name, device } });

describe('redisOptions', () => {
  it('reads host, port, db and credentials from a redis:// URL', () => {
    expect(redisOptions('redis://u:p%40ss@10.0.0.5:6380/3')).toMatchObject({ host: '10.0.0.5', port: 6380, db: 3, username: 'u', password: 'p@ss', maxRetriesPerRequest: null });
    expect(redisOptions('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379 });
  });

  it('refuses anything that is not redis://, naming what it got', () => {
    expect(() => redisOptions('127.0.0.1:6379')).toThrow(QueueConnectionError);
    expect(() => redisOptions('http://127.0.0.1:6379')).toThrow('--queue must be a redis:// URL (BullMQ on Redis), got "http://127.0.0.1:6379"');
    expect(() => redisOptions('redis://127.0.0.1:6379/x')).toThrow('The database in redis://127.0.0.1:6379/x must be a number');
  });
});

describe('worker previews on skyloom:events', () => {
  const meta: RawPreviewMetadata = { clientId: 'c1', promptId: 'p', nodeId: 's', step: 2, total: 5, frameCount: 2, width: 2, height: 1, fps: 8 };
  const rgb = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

  it("are 'P' + one RGB24 frame of the preview codec, read back whole", () => {
    const packed = packPreview(meta, rgb);
    expect(packed[0]).toBe(0x50);
    const frame = decodePreviewFrame<RawPreviewMetadata>(new Uint8Array(packed.subarray(1)));
    expect(frame.type).toBe(PREVIEW_RGB24);
    expect(frame.metadata).toEqual(meta);
    expect([...frame.image]).toEqual([...rgb]);
    const back = unpackPreview(packed);
    expect(back.meta).toEqual(meta);
    expect([...back.data]).toEqual([...rgb]);
  });

  it('refuse a frame whose pixels do not match its size', () => {
    expect(() => unpackPreview(packPreview(meta, rgb.subarray(0, 9)))).toThrow('An RGB24 preview of 2 × 2×1 has 12 bytes, got 9');
  });
});

describe('serve --queue', () => {
  it('refuses to start when Redis does not answer, naming the URL', async () => {
    const port = await freePort();
    await expect(startServer({ queue: `redis://127.0.0.1:${port}` })).rejects.toThrow(`Cannot reach Redis at redis://127.0.0.1:${port}`);
  });
});

describe('capabilities and routes', () => {
  it('a workflow requires each model it loads by name, and CUDA only when a node insists on it', () => {
    const registry = createRegistry();
    expect(requirementsOf(workflow({ id: 'a', type: 'test/number', params: { value: 1 } }), registry)).toEqual([]);
    expect(requirementsOf(workflow(model('zeta'), model('alpha', 'cuda'), model('/abs/folder')), registry)).toEqual(['device:cuda', 'model:alpha', 'model:zeta']);
    // load-model without a name loads the default model.
    expect(requirementsOf(workflow({ id: 'm', type: 'load-model' }), registry)).toEqual(['model:skyloom-tiny']);
    // Any node can require a capability: upscale on CUDA needs a CUDA worker.
    expect(requirementsOf(workflow({ id: 'u', type: 'upscale', params: { device: 'cuda' } }), registry)).toEqual(['device:cuda']);
  });

  it('names one queue per set of requirements, whatever their order', () => {
    expect(routeName([])).toBe('prompts');
    expect(routeName(['model:a', 'device:cuda'])).toBe(routeName(['device:cuda', 'model:a']));
    expect(routeName(['model:a'])).not.toBe(routeName(['model:b']));
    expect(routeName(['model:a'])).toMatch(/^prompts-[0-9a-f]{16}$/);
  });

  it('a worker can run a prompt when it has every capability the prompt needs', () => {
    expect(canRun(['device:cpu', 'model:a'], ['model:a'])).toBe(true);
    expect(canRun(['device:cpu', 'model:a'], ['model:a', 'device:cuda'])).toBe(false);
    expect(canRun([], [])).toBe(true);
  });
});

describe('seeds fan-out', () => {
  const w = workflow({ id: 'a', type: 'test/number', params: { value: 0 } }, { id: 'save', type: 'save-video', params: { filename_prefix: 'clip' } });

  it("sets the param and keeps each seed's files apart", () => {
    const s = seededWorkflow(w, 'a', 'value', 7);
    expect(s.nodes.map((n) => n.params)).toEqual([{ value: 7 }, { filename_prefix: 'clip-seed7' }]);
    expect(w.nodes[0]!.params).toEqual({ value: 0 });
  });

  it('names a missing node', () => {
    expect(() => splitParam('nope.seed', w)).toThrow('seeds.param names node "nope", which is not in the workflow');
    expect(splitParam('a.value', w)).toEqual({ nodeId: 'a', name: 'value' });
  });

  it('is refused by the embedded queue with the way to get it', async () => {
    const s = await startServer();
    try {
      const r = await postJson<{ error: { code: string; message: string } }>(s.base, '/api/prompt', {
        workflow: workflow({ id: 'a', type: 'test/number', params: { value: 0 } }, { id: 'out', type: 'test/collect', inputs: { value: { node: 'a', output: 'value' } } }),
        seeds: { param: 'a.value', values: [1, 2] },
      });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('seeds_unsupported');
      expect(r.body.error.message).toContain('--queue redis://host:port');
      const q = await (await fetch(`${s.base}/api/queue`)).json();
      expect(q).toEqual({ running: [], pending: [] });
    } finally {
      await s.stop();
    }
  });
});
