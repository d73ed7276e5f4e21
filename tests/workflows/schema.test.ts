// workflows/workflow.schema.json is generated from engine/workflow.ts: the committed file must be the current one.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { WorkflowSchema } from '../../engine/workflow.js';

const root = resolve(import.meta.dirname, '../..');
const committed = JSON.parse(readFileSync(join(root, 'workflows', 'workflow.schema.json'), 'utf8')) as Record<string, unknown>;

describe('workflow.schema.json', () => {
  it('equals the schema generated from the TypeBox source (npm run schema rewrites it)', () => {
    expect(committed).toEqual(JSON.parse(JSON.stringify(WorkflowSchema)));
  });

  it('is a schema Ajv compiles in strict mode, and it rejects what the type forbids', () => {
    const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(committed);
    const ok = { format: 'skyloom-workflow', version: 3, nodes: [{ id: 'a', type: 'float', params: { value: 2 }, position: [0, 0] }] };
    expect(validate(ok)).toBe(true);
    expect(validate({ ...ok, nodes: [{ id: '1a', type: 'float' }] })).toBe(false);
    expect(validate.errors?.[0].instancePath).toBe('/nodes/0/id');
    expect(validate({ ...ok, nodes: [{ id: 'a', type: 'float', position: [0, 0, 0] }] })).toBe(false);
    expect(validate({ ...ok, nodes: [{ id: 'a', type: 'float', params: { value: [1] } }] })).toBe(false);
    expect(validate({ ...ok, colour: 'red' })).toBe(false);
    // Version 3: a node's colour is #rrggbb, its collapsed flag a boolean.
    expect(validate({ ...ok, nodes: [{ id: 'a', type: 'float', color: '#2f7d5b', collapsed: true }] })).toBe(true);
    expect(validate({ ...ok, nodes: [{ id: 'a', type: 'float', color: '#2f7d5' }] })).toBe(false);
    expect(validate.errors?.[0].instancePath).toBe('/nodes/0/color');
    expect(validate({ ...ok, nodes: [{ id: 'a', type: 'float', collapsed: 1 }] })).toBe(false);
  });
});
