// Node modes (format version 2): bypass passes a matching input through, mute leaves a node and what needs it out of the run.

import { describe, expect, it } from 'vitest';
import { Executor, WorkflowValidationError, validateWorkflow, type ValidationIssue, type WorkflowNode } from '../../engine/index.js';
import { link, registry, runLog, workflow } from './helpers.js';

async function issuesOf(doc: unknown): Promise<ValidationIssue[]> {
  try {
    await validateWorkflow(doc, registry());
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowValidationError);
    return (error as WorkflowValidationError).issues;
  }
  throw new Error('expected the workflow to be invalid');
}

/** 2 → +10 → +100 → collect; `modes` sets the modes of the two adders. */
function chain(modes: { first?: WorkflowNode['mode']; second?: WorkflowNode['mode'] } = {}) {
  return workflow(
    { id: 'two', type: 'test/number', params: { value: 2 } },
    { id: 'first', type: 'test/add', params: { offset: 10 }, inputs: { a: link('two', 'value') }, ...(modes.first ? { mode: modes.first } : {}) },
    { id: 'second', type: 'test/add', params: { offset: 100 }, inputs: { a: link('first', 'sum') }, ...(modes.second ? { mode: modes.second } : {}) },
    { id: 'out', type: 'test/collect', inputs: { value: link('second', 'sum') } },
  );
}

describe('format version 2', () => {
  it('migrates a version 1 file: same nodes, the current version, no modes', async () => {
    const v = await validateWorkflow({ ...chain(), version: 1 }, registry());
    expect(v.workflow.version).toBe(3);
    expect(v.migratedFrom).toBe(1);
    expect(v.workflow.nodes.map((n) => n.mode)).toEqual([undefined, undefined, undefined, undefined]);
    const v2 = await validateWorkflow({ ...chain({ first: 'bypass' }), version: 2 }, registry());
    expect(v2.migratedFrom).toBe(2);
    expect(v2.workflow.nodes[1]!.mode).toBe('bypass');
  });

  it('rejects an unknown mode by the schema, with its pointer', async () => {
    const doc = { ...chain(), version: 3 } as unknown as { nodes: Array<Record<string, unknown>> };
    doc.nodes[1]!.mode = 'skip';
    const issues = await issuesOf(doc);
    expect(issues).toEqual([expect.objectContaining({ code: 'schema', nodeId: 'first', pointer: '/nodes/1/mode' })]);
  });

  it('refuses a file newer than the current version', async () => {
    expect((await issuesOf({ ...chain(), version: 4 }))[0]!.message).toContain('newer than this Skyloom reads (up to 3)');
  });
});

describe('bypass', () => {
  it('passes the input of the same type through: the output changes, and the cache sees it', async () => {
    const executor = new Executor(registry());
    expect((await executor.run(chain())).outputs.out!.values).toEqual({ value: 112 });
    runLog.length = 0;
    const bypassed = await executor.run(chain({ first: 'bypass' }));
    expect(bypassed.outputs.out!.values).toEqual({ value: 102 });
    expect(runLog).toEqual(['second', 'out']);
    expect(bypassed.executed).not.toContain('first');
  });

  it('follows a chain of bypassed nodes', async () => {
    const r = await new Executor(registry()).run(chain({ first: 'bypass', second: 'bypass' }));
    expect(r.outputs.out!.values).toEqual({ value: 2 });
    expect(r.executed).toEqual(['two', 'out']);
  });

  it('is an error on the consumer when the bypassed node has no linked input of that type', async () => {
    const issues = await issuesOf(
      workflow(
        { id: 't', type: 'text', params: { value: 'abc' } },
        { id: 'len', type: 'test/text-length', inputs: { text: link('t', 'text') }, mode: 'bypass' },
        { id: 'out', type: 'test/collect', inputs: { value: link('len', 'length') } },
      ),
    );
    expect(issues).toEqual([
      expect.objectContaining({
        code: 'bypass_no_passthrough',
        nodeId: 'out',
        pointer: '/nodes/2/inputs/value',
        message: 'Input "value" reads "len".length (INT), but "len" is bypassed and has no linked input of that type to pass on',
      }),
    ]);
  });

  it('of an output node leaves it out of the run', async () => {
    const doc = chain();
    doc.nodes.push({ id: 'out2', type: 'test/collect', inputs: { value: link('two', 'value') }, mode: 'bypass' });
    const r = await new Executor(registry()).run(doc);
    expect(Object.keys(r.outputs)).toEqual(['out']);
  });
});

describe('mute', () => {
  it('leaves out a muted output node and what only it needs; the other output runs', async () => {
    const doc = chain();
    doc.nodes.push({ id: 'side', type: 'test/add', params: { offset: 5 }, inputs: { a: link('two', 'value') } });
    doc.nodes.push({ id: 'out2', type: 'test/collect', inputs: { value: link('side', 'sum') }, mode: 'mute' });
    const v = await validateWorkflow(doc, registry());
    expect(v.warnings.map((w) => [w.code, w.nodeId])).toEqual([['unused_node', 'side']]);
    const r = await new Executor(registry()).run(doc);
    expect(Object.keys(r.outputs)).toEqual(['out']);
    expect(r.executed).not.toContain('side');
  });

  it('is an error on a needed node that reads from a muted one', async () => {
    const issues = await issuesOf(chain({ first: 'mute' }));
    expect(issues).toEqual([
      expect.objectContaining({ code: 'muted_input', nodeId: 'second', pointer: '/nodes/2/inputs/a', message: expect.stringContaining('"first", which is muted') }),
    ]);
  });

  it("turns a muted node's own problems into warnings", async () => {
    const doc = chain();
    doc.nodes.push({ id: 'broken', type: 'test/add', mode: 'mute' });
    const v = await validateWorkflow(doc, registry());
    expect(v.warnings.map((w) => [w.code, w.nodeId])).toEqual([['missing_input', 'broken']]);
  });
});

describe('reroute', () => {
  it('passes any value on unchanged, through a chain of points', async () => {
    const r = await new Executor(registry()).run(
      workflow(
        { id: 'two', type: 'test/number', params: { value: 2 } },
        { id: 'r1', type: 'reroute', inputs: { in: link('two', 'value') } },
        { id: 'r2', type: 'reroute', inputs: { in: link('r1', 'out') } },
        { id: 'sum', type: 'test/add', params: { offset: 1 }, inputs: { a: link('r2', 'out') } },
        { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
      ),
    );
    expect(r.outputs.out!.values).toEqual({ value: 3 });
    expect(r.executed).toEqual(['two', 'r1', 'r2', 'sum', 'out']);
  });
});
