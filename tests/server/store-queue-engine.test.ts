// The store's queue-engine side: results recorded from remote workers, running prompts kept across a restart, older databases upgraded.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Store } from '../../server/store.js';
import { tempDir } from './helpers.js';

const wf = { format: 'skyloom-workflow', version: 1, nodes: [{ id: 'n', type: 'test/number' }] };

describe('Store with a queue engine', () => {
  it('records a prompt that ended before the server heard it start, once, with its worker', () => {
    const store = new Store(':memory:');
    store.enqueue('p', wf, null, 10);
    expect(store.record('p', { status: 'success', ms: 5, executed: ['n'], worker: 'gpu0' }, 20)).toBe(true);
    // Heard twice (live and when reconciling): the first record stands.
    expect(store.record('p', { status: 'error', error: { code: 'x', message: 'late' } }, 30)).toBe(false);
    expect(store.markRunning('p', 'gpu1', 40)).toBe(false);
    expect(store.get('p')).toMatchObject({ status: 'success', worker: 'gpu0', error: null, timings: { finishedAt: 20, ms: 5 } });
    store.close();
  });

  it('keeps running prompts running across a restart when asked to (a remote worker still runs them)', () => {
    const file = join(tempDir(), 'skyloom.db');
    const first = new Store(file, Date.now, { recoverRunning: false });
    first.enqueue('r', wf, 'c', 10);
    first.enqueue('q', wf, 'c', 11);
    first.markRunning('r', 'w1', 12);
    first.setSeeds('q', [{ seed: 1, promptId: 'q-seed-0', status: 'queued' }]);
    first.close();
    const second = new Store(file, Date.now, { recoverRunning: false });
    expect(second.recovered).toEqual([]);
    expect(second.unfinished()).toEqual([
      { promptId: 'r', status: 'running', seeds: null },
      { promptId: 'q', status: 'queued', seeds: [{ seed: 1, promptId: 'q-seed-0', status: 'queued' }] },
    ]);
    expect(second.get('r')).toMatchObject({ status: 'running', worker: 'w1', timings: { startedAt: 12 } });
    second.close();
  });

  it('opens a database written before the worker and seeds columns existed', () => {
    const file = join(tempDir(), 'skyloom.db');
    const old = new Database(file);
    old.exec(`CREATE TABLE prompts (
      number INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, client_id TEXT, workflow TEXT NOT NULL,
      status TEXT NOT NULL, queued_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, ms REAL,
      node_ms TEXT NOT NULL DEFAULT '{}', executed TEXT NOT NULL DEFAULT '[]', cached TEXT NOT NULL DEFAULT '[]',
      outputs TEXT NOT NULL DEFAULT '{}', error TEXT)`);
    old.prepare(`INSERT INTO prompts (id, workflow, status, queued_at, finished_at) VALUES ('old', ?, 'success', 1, 2)`).run(JSON.stringify(wf));
    old.close();
    const store = new Store(file);
    const entry = store.get('old')!;
    expect(entry.status).toBe('success');
    expect('worker' in entry).toBe(false);
    store.enqueue('new', wf, null);
    expect(store.record('new', { status: 'success', worker: 'w' })).toBe(true);
    expect(store.get('new')!.worker).toBe('w');
    store.close();
  });
});
