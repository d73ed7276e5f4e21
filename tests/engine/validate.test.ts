import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Executor, WorkflowValidationError, neededNodes, validateWorkflow, type ValidationIssue } from '../../engine/index.js';
import { link, registry, workflow } from './helpers.js';

async function issuesOf(doc: unknown): Promise<ValidationIssue[]> {
  try {
    await validateWorkflow(doc, registry());
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowValidationError);
    return (error as WorkflowValidationError).issues;
  }
  throw new Error('expected the workflow to be invalid');
}

describe('validateWorkflow', () => {
  it('accepts a valid workflow and fills in defaults and type versions', async () => {
    const v = await validateWorkflow(
      workflow(
        { id: 'a', type: 'test/number' },
        { id: 'sum', type: 'test/add', inputs: { a: link('a', 'value') } },
        { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
      ),
      registry(),
    );
    expect(v.nodes.get('a')!.params).toEqual({ value: 1 });
    expect(v.nodes.get('sum')!.params).toEqual({ offset: 0 });
    expect(v.nodes.get('sum')!.typeVersion).toBe(1);
  });

  it('names the nearest known types for an unknown node type', async () => {
    const issues = await issuesOf(workflow({ id: 'n1', type: 'test/ad' }, { id: 'n2', type: 'totally-unknown' }));
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatchObject({ code: 'unknown_node_type', nodeId: 'n1', pointer: '/nodes/0/type' });
    expect(issues[0].message).toContain('did you mean "test/add"');
    expect(issues[1]).toMatchObject({ code: 'unknown_node_type', nodeId: 'n2', pointer: '/nodes/1/type' });
    expect(issues[1].message).toContain('node pack may be missing');
  });

  it('reports a duplicate id', async () => {
    const issues = await issuesOf(workflow({ id: 'a', type: 'test/number' }, { id: 'a', type: 'test/number' }));
    expect(issues).toEqual([expect.objectContaining({ code: 'duplicate_id', nodeId: 'a', pointer: '/nodes/1/id', message: expect.stringContaining('first at /nodes/0') })]);
  });

  it('reports a dangling link and a link to a missing output', async () => {
    const issues = await issuesOf(workflow({ id: 'a', type: 'test/number' }, { id: 'sum', type: 'test/add', inputs: { a: link('ghost', 'value'), b: link('a', 'nope') } }));
    expect(issues).toEqual([
      expect.objectContaining({ code: 'dangling_link', nodeId: 'sum', pointer: '/nodes/1/inputs/a', message: expect.stringContaining('"ghost", which does not exist') }),
      expect.objectContaining({ code: 'unknown_output', nodeId: 'sum', pointer: '/nodes/1/inputs/b/output', message: expect.stringContaining('has outputs: value') }),
    ]);
  });

  it('reports a missing required input but not a missing optional one', async () => {
    const issues = await issuesOf(workflow({ id: 'sum', type: 'test/add' }));
    expect(issues).toEqual([
      expect.objectContaining({ code: 'missing_input', nodeId: 'sum', pointer: '/nodes/0/inputs/a', message: 'Required input "a" (FLOAT) is not connected' }),
    ]);
  });

  it('reports a socket type mismatch, for inputs and for params fed from links', async () => {
    const issues = await issuesOf(
      workflow(
        { id: 'n', type: 'test/number' },
        { id: 'len', type: 'test/text-length', inputs: { text: link('n', 'value') } },
        { id: 't', type: 'text', params: { value: 'x' } },
        { id: 'sum', type: 'test/add', inputs: { a: link('n', 'value'), offset: link('t', 'text') } },
      ),
    );
    expect(issues.map((i) => [i.code, i.nodeId, i.pointer])).toEqual([
      ['type_mismatch', 'len', '/nodes/1/inputs/text'],
      ['type_mismatch', 'sum', '/nodes/3/inputs/offset'],
    ]);
    expect(issues[0].message).toBe('Input "text" takes TEXT but is linked to "n".value, which gives FLOAT');
  });

  it('names every node in a cycle', async () => {
    const issues = await issuesOf(
      workflow(
        { id: 'x', type: 'test/add', inputs: { a: link('z', 'sum') } },
        { id: 'y', type: 'test/add', inputs: { a: link('x', 'sum') } },
        { id: 'z', type: 'test/add', inputs: { a: link('y', 'sum') } },
        { id: 'self', type: 'test/add', inputs: { a: link('self', 'sum') } },
      ),
    );
    expect(issues).toEqual([
      expect.objectContaining({ code: 'cycle', nodeId: 'x', message: expect.stringContaining('"x", "y", "z"') }),
      expect.objectContaining({ code: 'cycle', nodeId: 'self', message: expect.stringContaining('"self"') }),
    ]);
  });

  it('checks param types, ranges, choices and names', async () => {
    const issues = await issuesOf(
      workflow(
        { id: 'a', type: 'test/number', params: { value: 'ten' } },
        { id: 'b', type: 'test/number', params: { value: 5000 } },
        { id: 'c', type: 'int', params: { value: 1.5 } },
        { id: 't', type: 'text', params: { value: 'hi' } },
        { id: 'len', type: 'test/text-length', params: { mode: 'letters', modee: 'x' }, inputs: { text: link('t', 'text') } },
        { id: 's', type: 'seed', params: { seed: -1, randomize: 'yes' } },
      ),
    );
    expect(issues.map((i) => [i.code, i.nodeId, i.pointer])).toEqual([
      ['param_type', 'a', '/nodes/0/params/value'],
      ['param_range', 'b', '/nodes/1/params/value'],
      ['param_type', 'c', '/nodes/2/params/value'],
      ['unknown_param', 'len', '/nodes/4/params/modee'],
      ['param_choice', 'len', '/nodes/4/params/mode'],
      ['param_range', 's', '/nodes/5/params/seed'],
      ['param_type', 's', '/nodes/5/params/randomize'],
    ]);
    expect(issues[1].message).toBe('Param "value" is 5000, outside the range -1000 to 1000');
    expect(issues[3].message).toContain('did you mean "mode"?');
    expect(issues[4].message).toBe('Param "mode" is "letters", not one of: "chars", "words"');
  });

  it('reports an unknown input name with a suggestion', async () => {
    const issues = await issuesOf(workflow({ id: 'a', type: 'test/number' }, { id: 'sum', type: 'test/add', inputs: { a: link('a', 'value'), bb: link('a', 'value') } }));
    expect(issues).toEqual([
      expect.objectContaining({ code: 'unknown_input', nodeId: 'sum', pointer: '/nodes/1/inputs/bb', message: expect.stringContaining('did you mean "b"?') }),
    ]);
  });

  it('reports schema errors with pointers and node ids, all at once', async () => {
    const issues = await issuesOf({
      format: 'skyloom-workflow',
      version: 1,
      nodes: [{ id: 'a', type: 'test/number', params: { value: [1] }, colour: 'red' }, { id: '9bad', type: 'x' }, { type: 'y' }],
    });
    expect(issues.map((i) => [i.pointer, i.nodeId])).toEqual([
      ['/nodes/0', 'a'],
      ['/nodes/0/params/value', 'a'],
      ['/nodes/1/id', '9bad'],
      ['/nodes/2', undefined],
    ]);
    expect(issues[0].message).toContain('unknown property "colour"');
    expect(issues[3].message).toContain('missing required property "id"');
  });

  it('rejects an unsupported format version and a foreign format', async () => {
    expect(await issuesOf({ format: 'skyloom-workflow', version: 7, nodes: [] })).toEqual([
      expect.objectContaining({ code: 'unsupported_version', pointer: '/version', message: expect.stringContaining('newer than this Skyloom reads') }),
    ]);
    expect(await issuesOf({ format: 'comfy', version: 1, nodes: [] })).toEqual([expect.objectContaining({ code: 'unsupported_format', pointer: '/format' })]);
    expect(await issuesOf([1, 2])).toEqual([expect.objectContaining({ code: 'not_an_object', pointer: '' })]);
  });

  it('reports a node type version newer than the installed one', async () => {
    const issues = await issuesOf(workflow({ id: 'a', type: 'test/number', typeVersion: 3 }));
    expect(issues).toEqual([expect.objectContaining({ code: 'unsupported_node_version', nodeId: 'a', pointer: '/nodes/0/typeVersion' })]);
  });

  it('migrates the v0 draft shape forward', async () => {
    const doc = JSON.parse(readFileSync(new URL('../fixtures/workflows/v0-draft.json', import.meta.url), 'utf8'));
    const v = await validateWorkflow(doc, registry());
    expect(v.migratedFrom).toBe(0);
    expect(v.workflow.version).toBe(3);
    expect(v.workflow.title).toBe('A v0 draft: two numbers added');
    expect(v.workflow.nodes.map((n) => n.id)).toEqual(['a', 'b', 'sum', 'out']);
    expect(v.workflow.nodes[2]).toEqual({
      id: 'sum',
      type: 'test/add',
      inputs: { a: { node: 'a', output: 'value' }, b: { node: 'b', output: 'value' } },
      position: [240, 60],
    });
    expect(v.nodes.get('b')!.params).toEqual({ value: 3 });
  });

  it('runs node checks and reports their problems at the param', async () => {
    const reg = registry();
    reg.register({
      type: 'test/needs-file',
      version: 1,
      category: 'test',
      description: 'x',
      params: { path: { kind: 'string', default: '' } },
      outputs: {},
      check: ({ path }) => (path === 'missing.bin' ? [{ param: 'path', message: 'File missing.bin does not exist' }] : []),
      run: () => ({}),
    });
    await expect(validateWorkflow(workflow({ id: 'f', type: 'test/needs-file', params: { path: 'missing.bin' } }), reg)).rejects.toMatchObject({
      issues: [{ code: 'check_failed', nodeId: 'f', pointer: '/nodes/0/params/path', message: 'File missing.bin does not exist' }],
    });
  });
});

describe('partial runs: what the outputs need', () => {
  it('runs the complete output while a loose node with a problem is only a warning', async () => {
    const doc = workflow(
      { id: 'a', type: 'test/number', params: { value: 2 } },
      { id: 'sum', type: 'test/add', inputs: { a: link('a', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } },
      { id: 'loose', type: 'test/add' },
      { id: 'ghost', type: 'no-such-type' },
    );
    const v = await validateWorkflow(doc, registry());
    expect(v.warnings.map((w) => [w.code, w.nodeId])).toEqual([
      ['unused_node', 'loose'],
      ['unused_node', 'ghost'],
      ['unknown_node_type', 'ghost'],
      ['missing_input', 'loose'],
    ]);
    expect(v.warnings[0]!.message).toBe('Node "loose" feeds no output node, so it does not run');
    const result = await new Executor(registry()).run(doc);
    expect(result.outputs.out!.values).toEqual({ value: 2 });
    expect(result.executed).toEqual(['a', 'sum', 'out']);
  });

  it('keeps a problem of a needed node an error, and every problem an error when there is no output node', async () => {
    const needed = await issuesOf(
      workflow({ id: 'sum', type: 'test/add' }, { id: 'out', type: 'test/collect', inputs: { value: link('sum', 'sum') } }, { id: 'loose', type: 'test/add' }),
    );
    expect(needed.map((i) => [i.code, i.nodeId])).toEqual([['missing_input', 'sum']]);
    const none = await issuesOf(workflow({ id: 'loose', type: 'test/add' }));
    expect(none.map((i) => [i.code, i.nodeId])).toEqual([['missing_input', 'loose']]);
  });

  it('judges only what the targets need', async () => {
    const doc = workflow(
      { id: 'a', type: 'test/number', params: { value: 3 } },
      { id: 'good', type: 'test/collect', inputs: { value: link('a', 'value') } },
      { id: 'broken', type: 'test/add' },
      { id: 'bad', type: 'test/collect', inputs: { value: link('broken', 'sum') } },
    );
    expect((await issuesOf(doc)).map((i) => [i.code, i.nodeId])).toEqual([['missing_input', 'broken']]);
    const v = await validateWorkflow(doc, registry(), { targets: ['good'] });
    expect(v.warnings.filter((w) => w.code === 'unused_node').map((w) => w.nodeId)).toEqual(['broken', 'bad']);
    expect(v.warnings[0]!.message).toBe('Node "broken" is not needed by "good", so it does not run');
    const result = await new Executor(registry()).run(doc, { targets: ['good'] });
    expect(result.outputs.good!.values).toEqual({ value: 3 });
  });

  it('finds what is needed through chains and shared sources', async () => {
    const doc = workflow(
      { id: 'a', type: 'test/number' },
      { id: 'b', type: 'test/add', inputs: { a: link('a', 'value') } },
      { id: 'c', type: 'test/add', inputs: { a: link('b', 'sum'), b: link('a', 'value') } },
      { id: 'out', type: 'test/collect', inputs: { value: link('c', 'sum') } },
      { id: 'side', type: 'test/add', inputs: { a: link('a', 'value') } },
    );
    expect([...neededNodes(doc, registry())!].sort()).toEqual(['a', 'b', 'c', 'out']);
    expect(neededNodes(workflow({ id: 'a', type: 'test/number' }), registry())).toBeUndefined();
  });
});

describe('int steps', () => {
  it('holds an int param to its steps from its minimum, and names the rule', async () => {
    const { createRegistry } = await import('../../nodes/index.js');
    const doc = {
      format: 'skyloom-workflow',
      version: 3,
      nodes: [
        { id: 'model', type: 'load-model', params: { name: 'nope' } },
        { id: 'latent', type: 'empty-latent', params: { aspect: 'custom', width: 50, height: 64 }, inputs: { model: { node: 'model', output: 'model' } } },
      ],
    };
    try {
      await validateWorkflow(doc, createRegistry());
      throw new Error('expected the workflow to be invalid');
    } catch (error) {
      const issues = (error as WorkflowValidationError).issues;
      expect(issues.find((i) => i.nodeId === 'latent')).toEqual({
        code: 'param_step',
        nodeId: 'latent',
        pointer: '/nodes/1/params/width',
        message: 'Param "width" is 50, not on its steps of 16 from 16 (try 48 or 64)',
      });
      expect(issues.some((i) => i.pointer === '/nodes/1/params/height')).toBe(false);
    }
  });
});
