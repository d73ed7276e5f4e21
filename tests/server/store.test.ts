// The queue and history store on its own, without HTTP: order, claiming, finishing, recovery after a crash.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_STOPPED, Store } from '../../server/store.js';
import { tempDir } from './helpers.js';

const wf = (n: number) => ({ format: 'skyloom-workflow', version: 1, nodes: [{ id: `n${n}`, type: 'test/number' }] });

describe('Store', () => {
  it('hands out prompts in queue order, one claim each', () => {
    const store = new Store(':memory:');
    const numbers = [1, 2, 3].map((i) => store.enqueue(`p${i}`, wf(i), i === 2 ? 'c2' : null, 1000 + i).number);
    expect(numbers).toEqual([1, 2, 3]);
    expect(store.counts()).toEqual({ running: 0, pending: 3 });
    const first = store.claimNext(2000)!;
    expect(first).toEqual({ promptId: 'p1', number: 1, clientId: null, workflow: wf(1) });
    expect(store.queue()).toEqual({
      running: [{ promptId: 'p1', number: 1, clientId: null, queuedAt: 1001, startedAt: 2000 }],
      pending: [
        { promptId: 'p2', number: 2, clientId: 'c2', queuedAt: 1002, startedAt: null },
        { promptId: 'p3', number: 3, clientId: null, queuedAt: 1003, startedAt: null },
      ],
    });
    expect(store.claimNext()!.promptId).toBe('p2');
    expect(store.claimNext()!.promptId).toBe('p3');
    expect(store.claimNext()).toBeUndefined();
    store.close();
  });

  it('records results, timings and errors; finishing twice is refused', () => {
    const store = new Store(':memory:');
    store.enqueue('ok', wf(1), 'c', 10);
    store.enqueue('bad', wf(2), 'c', 11);
    store.claimNext(20);
    const outputs = { save: { files: [{ filename: 'a.txt', kind: 'text' as const, url: '/api/outputs/a.txt' }] } };
    expect(store.finish('ok', { status: 'success', ms: 12.5, nodeMs: { n1: 3 }, executed: ['n1'], cached: [], outputs }, 40)).toBe(true);
    expect(store.finish('ok', { status: 'error' }, 41)).toBe(false);
    store.claimNext(50);
    store.finish('bad', { status: 'error', executed: [], error: { code: 'node_failed', message: 'boom', nodeId: 'n2', nodeType: 'test/fail' } }, 60);

    const ok = store.get('ok')!;
    expect(ok).toMatchObject({ status: 'success', timings: { queuedAt: 10, startedAt: 20, finishedAt: 40, ms: 12.5, nodes: { n1: 3 } }, outputs, error: null, workflow: wf(1) });
    expect(store.get('bad')!.error).toEqual({ code: 'node_failed', message: 'boom', nodeId: 'n2', nodeType: 'test/fail' });
    const history = store.history({ limit: 10, offset: 0 });
    expect(history.total).toBe(2);
    expect(history.items.map((i) => i.promptId)).toEqual(['bad', 'ok']);
    expect(history.items[0].workflow).toBeUndefined();
    expect(store.history({ limit: 1, offset: 1 }).items.map((i) => i.promptId)).toEqual(['ok']);
    store.close();
  });

  it('cancels only queued prompts, keeping them in history', () => {
    const store = new Store(':memory:');
    store.enqueue('a', wf(1), null);
    store.enqueue('b', wf(2), null);
    store.claimNext();
    expect(store.cancelQueued('a')).toBe(false); // running
    expect(store.cancelQueued('b')).toBe(true);
    expect(store.cancelQueued('b')).toBe(false);
    expect(store.status('b')).toBe('cancelled');
    expect(store.claimNext()).toBeUndefined();
    store.close();
  });

  it('after a crash, the running prompt is failed with a reason and queued ones stay queued', () => {
    const file = join(tempDir(), 'skyloom.db');
    const crashed = new Store(file);
    crashed.enqueue('running', wf(1), null, 1);
    crashed.enqueue('waiting', wf(2), null, 2);
    crashed.claimNext(5);
    // No finish, no clean shutdown: the lock names a process that is gone, and a restarted process opens the file.
    writeFileSync(`${file}.lock`, String(spawnSync('true').pid));
    const reopened = new Store(file, () => 99);
    expect(reopened.recovered).toEqual(['running']);
    const entry = reopened.get('running')!;
    expect(entry.status).toBe('error');
    expect(entry.error!.code).toBe(SERVER_STOPPED);
    expect(entry.error!.message).toContain('The server stopped while this prompt was running');
    expect(entry.timings.finishedAt).toBe(99);
    expect(reopened.claimNext()!.promptId).toBe('waiting');
    // Numbers are never reused, so they keep naming the same prompts.
    expect(reopened.enqueue('later', wf(3), null).number).toBe(3);
    reopened.close();
  });

  it('refuses a data dir another live server holds, and frees it on close', () => {
    const file = join(tempDir(), 'skyloom.db');
    const first = new Store(file);
    expect(() => new Store(file)).toThrow(/in use by another Skyloom server \(pid \d+/);
    first.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
    const second = new Store(file);
    second.close();
  });
});
