import { beforeEach, describe, expect, it } from 'vitest';
import { Cancelled, Executor, NodeExecutionError, OutputCache, type ExecutionEvent, type Workflow } from '../../engine/index.js';
import { link, registry, runLog, workflow } from './helpers.js';

// a ─┐
//    ├─ sum ─ double ─ out
// b ─┘
// c ─ unused (not needed by any output)
function diamond(bValue = 3): Workflow {
  return workflow(
    { id: 'a', type: 'test/number', params: { value: 2 } },
    { id: 'b', type: 'test/number', params: { value: bValue } },
    { id: 'c', type: 'test/number', params: { value: 100 } },
    { id: 'sum', type: 'test/add', inputs: { a: link('a', 'value'), b: link('b', 'value') } },
    { id: 'double', type: 'test/add', inputs: { a: link('sum', 'sum'), b: link('sum', 'sum') } },
    { id: 'out', type: 'test/collect', inputs: { value: link('double', 'sum') } },
  );
}

function recorder(): { events: ExecutionEvent[]; onEvent: (e: ExecutionEvent) => void; types: () => string[] } {
  const events: ExecutionEvent[] = [];
  return { events, onEvent: (e) => events.push(e), types: () => events.map((e) => e.type) };
}

beforeEach(() => {
  runLog.length = 0;
});

describe('Executor', () => {
  it('runs only what the output nodes need, in topological order, and reports outputs', async () => {
    const ex = new Executor(registry());
    const rec = recorder();
    const result = await ex.run(diamond(), { onEvent: rec.onEvent, promptId: 'p1' });
    expect(runLog).toEqual(['a', 'b', 'sum', 'double', 'out']);
    expect(result.outputs).toEqual({ out: { values: { value: 10 } } });
    expect(result.executed).toEqual(['a', 'b', 'sum', 'double', 'out']);
    expect(rec.types()).toEqual(['execution_start', ...['a', 'b', 'sum', 'double', 'out'].flatMap(() => ['executing', 'executed']), 'execution_success']);
    expect(rec.events[0]).toMatchObject({ type: 'execution_start', data: { promptId: 'p1', nodes: ['a', 'b', 'sum', 'double', 'out'] } });
  });

  it('runs an explicit target set and only its ancestors', async () => {
    const ex = new Executor(registry());
    const result = await ex.run(diamond(), { targets: ['sum', 'c'] });
    expect(runLog).toEqual(['a', 'b', 'c', 'sum']);
    expect(result.outputs).toEqual({});
  });

  it('re-runs nothing when nothing changed, and reports the cached nodes', async () => {
    const ex = new Executor(registry());
    await ex.run(diamond());
    runLog.length = 0;
    const rec = recorder();
    const result = await ex.run(diamond(), { onEvent: rec.onEvent });
    expect(runLog).toEqual([]);
    expect(result.cached).toEqual(['out']);
    expect(result.outputs).toEqual({ out: { values: { value: 10 } } });
    expect(rec.types()).toEqual(['execution_start', 'execution_cached', 'execution_success']);
  });

  it('after one param change re-runs exactly that node and its descendants', async () => {
    const ex = new Executor(registry());
    await ex.run(diamond(3));
    runLog.length = 0;
    const result = await ex.run(diamond(4));
    expect(runLog).toEqual(['b', 'sum', 'double', 'out']);
    expect(result.cached).toEqual(['a']);
    expect(result.outputs.out).toEqual({ values: { value: 12 } });
    // Back to the first value: every node's outputs are still cached.
    runLog.length = 0;
    await ex.run(diamond(3));
    expect(runLog).toEqual([]);
  });

  it('always re-runs a node that is not idempotent, and its descendants', async () => {
    const wf = workflow(
      { id: 'n', type: 'test/number' },
      { id: 'r', type: 'test/random' },
      { id: 'sum', type: 'test/add', inputs: { a: link('r', 'value'), b: link('n', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
    );
    const ex = new Executor(registry());
    const first = await ex.run(wf);
    runLog.length = 0;
    const second = await ex.run(wf);
    expect(runLog).toEqual(['r', 'sum', 'out']);
    expect(second.outputs.out.values!.value).not.toBe(first.outputs.out.values!.value);
  });

  it('evicts least recently used outputs under a small budget and still computes correctly', async () => {
    const cache = new OutputCache(100); // about three small entries fit, not five
    const ex = new Executor(registry(), { cache });
    await ex.run(diamond(3));
    expect(cache.stats().evictions).toBeGreaterThan(0);
    expect(cache.stats().bytes).toBeLessThanOrEqual(100);
    runLog.length = 0;
    const result = await ex.run(diamond(5));
    expect(result.outputs.out).toEqual({ values: { value: 14 } });
    // 'a' was evicted, so it had to run again even though its params did not change.
    expect(runLog).toEqual(['a', 'b', 'sum', 'double', 'out']);
  });

  it('does not keep an output larger than the whole budget', () => {
    const cache = new OutputCache(1000);
    cache.set('big', { data: new Float32Array(1000) });
    cache.set('small', { data: new Float32Array(10) });
    expect(cache.has('big')).toBe(false);
    expect(cache.has('small')).toBe(true);
    expect(cache.stats().bytes).toBeGreaterThanOrEqual(40);
  });

  it('a throwing node gives execution_error naming it, and the executor stays usable', async () => {
    const ex = new Executor(registry());
    const rec = recorder();
    const wf = workflow(
      { id: 'n', type: 'test/number' },
      { id: 'bad', type: 'test/fail', params: { message: 'disk on fire' }, inputs: { value: link('n', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('bad', 'value') } },
    );
    const error = await ex.run(wf, { onEvent: rec.onEvent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeExecutionError);
    expect(error).toMatchObject({ nodeId: 'bad', nodeType: 'test/fail', message: 'Node "bad" (test/fail) failed: disk on fire' });
    const last = rec.events.at(-1)!;
    expect(last).toMatchObject({
      type: 'execution_error',
      data: { nodeId: 'bad', nodeType: 'test/fail', message: 'Node "bad" (test/fail) failed: disk on fire', executed: ['n'] },
    });
    expect(last.type === 'execution_error' && last.data.cause).toContain('disk on fire');
    runLog.length = 0;
    const ok = await ex.run(diamond());
    expect(ok.outputs.out).toEqual({ values: { value: 10 } });
  });

  it('a node that returns no value for a declared output fails with a clear message', async () => {
    const reg = registry();
    reg.register({ type: 'test/forgetful', version: 1, category: 'test', description: 'x', outputs: { value: { type: 'FLOAT' } }, run: () => ({}) });
    const ex = new Executor(reg);
    const wf = workflow({ id: 'f', type: 'test/forgetful' }, { id: 'out', type: 'test/collect', inputs: { value: link('f', 'value') } });
    await expect(ex.run(wf)).rejects.toThrow('Node "f" (test/forgetful) failed: The node returned no value for output "value"');
  });

  it('reports progress and previews, and an interrupt mid-node stops promptly', async () => {
    const ex = new Executor(registry());
    const controller = new AbortController();
    const rec = recorder();
    const wf = workflow({ id: 'slow', type: 'test/slow', params: { steps: 1000, ms: 5 } }, { id: 'out', type: 'test/collect', inputs: { value: link('slow', 'value') } });
    const started = Date.now();
    const run = ex.run(wf, {
      signal: controller.signal,
      onEvent: (e) => {
        rec.onEvent(e);
        if (e.type === 'progress' && e.data.step === 3) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(Cancelled);
    // 1000 steps of 5 ms would take 5 s; stopping at step 3 shows the node saw the signal.
    expect(Date.now() - started).toBeLessThan(2000);
    const progress = rec.events.filter((e) => e.type === 'progress');
    expect(progress.map((e) => e.type === 'progress' && e.data.step)).toEqual([1, 2, 3]);
    const preview = rec.events.find((e) => e.type === 'preview');
    expect(preview).toMatchObject({ data: { nodeId: 'slow', step: 1, total: 1000, preview: { width: 1, height: 1, frameCount: 1 } } });
    expect(rec.events.at(-1)).toMatchObject({ type: 'execution_interrupted', data: { nodeId: 'slow', executed: [] } });
    expect(runLog).toEqual(['slow']);
  });

  it('an interrupt between nodes stops before the next node', async () => {
    const ex = new Executor(registry());
    const controller = new AbortController();
    const wf = workflow(
      { id: 'n', type: 'test/number' },
      { id: 'sum', type: 'test/add', inputs: { a: link('n', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
    );
    const rec = recorder();
    const run = ex.run(wf, {
      signal: controller.signal,
      onEvent: (e) => {
        rec.onEvent(e);
        if (e.type === 'executed' && e.data.nodeId === 'n') controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'interrupted', nodeId: 'sum' });
    expect(runLog).toEqual(['n']);
    expect(rec.events.at(-1)).toMatchObject({ type: 'execution_interrupted', data: { nodeId: 'sum', executed: ['n'] } });
  });

  it('feeds a param from a link of the same type', async () => {
    const ex = new Executor(registry());
    const wf = workflow(
      { id: 'n', type: 'test/number', params: { value: 1 } },
      { id: 'off', type: 'float', params: { value: 0.5 } },
      { id: 'sum', type: 'test/add', params: { offset: 100 }, inputs: { a: link('n', 'value'), offset: link('off', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
    );
    const result = await ex.run(wf);
    expect(result.outputs.out).toEqual({ values: { value: 1.5 } });
  });

  it('fails before running anything when the workflow has no output node', async () => {
    const ex = new Executor(registry());
    await expect(ex.run(workflow({ id: 'n', type: 'test/number' }))).rejects.toMatchObject({ code: 'no_outputs' });
    expect(runLog).toEqual([]);
  });

  it('a randomized seed draws a new value every run; a fixed one is cached', async () => {
    const ex = new Executor(registry());
    const wf = (randomize: boolean) =>
      workflow({ id: 's', type: 'seed', params: { seed: 42, randomize } }, { id: 'out', type: 'test/collect', inputs: { value: link('s', 'seed') } });
    const fixed = await ex.run(wf(false));
    expect(fixed.outputs.out.values!.value).toBe(42);
    expect((await ex.run(wf(false))).executed).toEqual([]);
    const r1 = await ex.run(wf(true));
    const r2 = await ex.run(wf(true));
    expect(r1.executed).toEqual(['s', 'out']);
    expect(r2.outputs.out.values!.value).not.toBe(r1.outputs.out.values!.value);
  });
});
