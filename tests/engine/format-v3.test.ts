// Format version 3: node colour and collapse are editor state — migrated from version 2, schema-checked, ignored by runs.

import { describe, expect, it } from 'vitest';
import { Executor, WorkflowValidationError, migrateWorkflow, validateWorkflow, type ValidationIssue, type Workflow } from '../../engine/index.js';
import { link, registry, runLog, workflow } from './helpers.js';

function chain(): Workflow {
  return workflow(
    { id: 'two', type: 'test/number', params: { value: 2 }, position: [0, 0] },
    { id: 'first', type: 'test/add', params: { offset: 10 }, inputs: { a: link('two', 'value') }, mode: 'bypass' },
    { id: 'second', type: 'test/add', params: { offset: 100 }, inputs: { a: link('first', 'sum') } },
    { id: 'out', type: 'test/collect', inputs: { value: link('second', 'sum') } },
  );
}

async function issuesOf(doc: unknown): Promise<ValidationIssue[]> {
  try {
    await validateWorkflow(doc, registry());
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowValidationError);
    return (error as WorkflowValidationError).issues;
  }
  throw new Error('expected the workflow to be invalid');
}

describe('format version 3', () => {
  it('migrates a version 2 file: only the number changes, every node field is kept', async () => {
    const v2 = { ...chain(), version: 2, title: 'old', groups: [{ title: 'g', nodes: ['two'] }] };
    const { doc, migratedFrom } = migrateWorkflow(structuredClone(v2) as unknown as Record<string, unknown>);
    expect(migratedFrom).toBe(2);
    expect(doc).toEqual({ ...v2, version: 3 });
    const v = await validateWorkflow(v2, registry());
    expect(v.migratedFrom).toBe(2);
    expect(v.workflow.version).toBe(3);
    expect(v.workflow.nodes.map((n) => [n.id, n.mode, n.color, n.collapsed])).toEqual([
      ['two', undefined, undefined, undefined],
      ['first', 'bypass', undefined, undefined],
      ['second', undefined, undefined, undefined],
      ['out', undefined, undefined, undefined],
    ]);
  });

  it('migrates a version 1 file through 2 to 3', async () => {
    const v = await validateWorkflow({ ...chain(), version: 1 }, registry());
    expect(v.migratedFrom).toBe(1);
    expect(v.workflow.version).toBe(3);
  });

  it('keeps a colour and a collapsed flag on a node', async () => {
    const doc = chain();
    doc.nodes[1]!.color = '#2f7d5b';
    doc.nodes[2]!.collapsed = true;
    const v = await validateWorkflow(doc, registry());
    expect(v.migratedFrom).toBeUndefined();
    expect(v.workflow.nodes[1]).toMatchObject({ id: 'first', color: '#2f7d5b' });
    expect(v.workflow.nodes[2]).toMatchObject({ id: 'second', collapsed: true });
  });

  it('rejects a colour that is not #rrggbb and a collapsed flag that is not a boolean, with their pointers', async () => {
    const doc = chain() as unknown as { nodes: Array<Record<string, unknown>> };
    doc.nodes[1]!.color = 'red';
    expect(await issuesOf(doc)).toEqual([expect.objectContaining({ code: 'schema', nodeId: 'first', pointer: '/nodes/1/color' })]);
    delete doc.nodes[1]!.color;
    doc.nodes[3]!.collapsed = 'yes';
    expect(await issuesOf(doc)).toEqual([expect.objectContaining({ code: 'schema', nodeId: 'out', pointer: '/nodes/3/collapsed' })]);
  });

  it('runs ignore colour and collapse: the same values, and a recoloured graph is served from the cache', async () => {
    const executor = new Executor(registry());
    const plain = await executor.run(chain());
    expect(plain.outputs.out!.values).toEqual({ value: 102 });
    runLog.length = 0;
    const dressed = chain();
    for (const n of dressed.nodes) {
      n.color = '#b33a3a';
      n.collapsed = true;
    }
    const again = await executor.run(dressed);
    expect(again.outputs.out!.values).toEqual({ value: 102 });
    expect(runLog).toEqual([]);
    expect(again.executed).toEqual([]);
  });
});
