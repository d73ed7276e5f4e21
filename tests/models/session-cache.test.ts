import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionCache, estimateSessionBytes } from '../../models/session-cache.js';
import type { OnnxSession, SessionOptions } from '../../models/runtime/onnx.js';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skyloom-cache-'));
  for (const name of ['a.onnx', 'b.onnx', 'c.onnx']) await writeFile(file(name), Buffer.alloc(100));
  await writeFile(file('a.onnx_data'), Buffer.alloc(300));
});

// Fake sessions: the cache logic does not depend on ONNX Runtime, and fakes make opens countable.
function fakeCache(budgetBytes: number) {
  const opened: string[] = [];
  const closed: string[] = [];
  let failNext = false;
  const cache = new SessionCache({
    budgetBytes,
    sizeFactor: 1,
    open: async (path: string, options: SessionOptions): Promise<OnnxSession> => {
      opened.push(`${path}@${options.intraOpNumThreads ?? '-'}`);
      if (failNext) {
        failNext = false;
        throw new Error('boom');
      }
      return { path, device: 'cpu', inputs: [], outputs: [] };
    },
    close: async (session) => {
      closed.push(session.path);
    },
  });
  return { cache, opened, closed, failOnce: () => (failNext = true) };
}

const noop = async () => undefined;

describe('SessionCache', () => {
  it('estimates memory from .onnx plus .onnx_data', async () => {
    expect(await estimateSessionBytes(file('a.onnx'), 2)).toBe(800);
    expect(await estimateSessionBytes(file('b.onnx'), 1.5)).toBe(150);
    // The wannx exporter names external weights dit.onnx.data.
    await writeFile(file('d.onnx'), Buffer.alloc(100));
    await writeFile(file('d.onnx.data'), Buffer.alloc(1000));
    expect(await estimateSessionBytes(file('d.onnx'), 1)).toBe(1100);
  });

  it('reuses a session per (file, device, threads)', async () => {
    const { cache, opened } = fakeCache(10_000);
    const s1 = await cache.use(file('b.onnx'), { device: 'cpu' }, async (s) => s);
    const s2 = await cache.use(file('b.onnx'), { device: 'cpu' }, async (s) => s);
    expect(s1).toBe(s2);
    await cache.use(file('b.onnx'), { device: 'cpu', threads: 2 }, noop);
    await cache.use(file('b.onnx'), { device: 'cuda' }, noop);
    expect(opened).toEqual([`${file('b.onnx')}@-`, `${file('b.onnx')}@2`, `${file('b.onnx')}@-`]);
    expect(cache.usedBytes).toBe(300);
  });

  it('releases the least recently used session when over budget', async () => {
    const { cache, closed } = fakeCache(250); // room for two 100-byte sessions
    await cache.use(file('b.onnx'), { device: 'cpu' }, noop);
    await cache.use(file('c.onnx'), { device: 'cpu' }, noop);
    await cache.use(file('b.onnx'), { device: 'cpu' }, noop); // b is now more recent than c
    await cache.use(file('a.onnx'), { device: 'cpu' }, noop); // 400 bytes: needs everything else gone
    expect(closed).toEqual([file('c.onnx'), file('b.onnx'), file('a.onnx')]);
    await cache.use(file('b.onnx'), { device: 'cpu' }, noop);
    await cache.use(file('c.onnx'), { device: 'cpu' }, noop);
    expect(cache.keys()).toEqual([`${file('b.onnx')}|cpu|default`, `${file('c.onnx')}|cpu|default`]);
  });

  it('never releases a session while it is in use', async () => {
    const { cache, closed } = fakeCache(150);
    let finish!: () => void;
    const running = cache.use(file('b.onnx'), { device: 'cpu' }, () => new Promise<void>((r) => (finish = r)));
    await new Promise((r) => setTimeout(r, 10));
    await cache.use(file('c.onnx'), { device: 'cpu' }, noop); // over budget, but b is busy
    expect(closed).toEqual([file('c.onnx')]);
    expect(cache.keys()).toEqual([`${file('b.onnx')}|cpu|default`]);
    finish();
    await running;
    expect(closed).toEqual([file('c.onnx')]); // b alone fits the budget
    await cache.clear();
    expect(closed).toEqual([file('c.onnx'), file('b.onnx')]);
  });

  it('does not cache a failed creation', async () => {
    const { cache, opened, failOnce } = fakeCache(10_000);
    failOnce();
    await expect(cache.use(file('b.onnx'), { device: 'cpu' }, noop)).rejects.toThrow('boom');
    await cache.use(file('b.onnx'), { device: 'cpu' }, noop);
    expect(opened).toHaveLength(2);
    expect(cache.keys()).toHaveLength(1);
  });
});
