import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineNode, loadNodePack, NodeRegistry } from '../../engine/index.js';
import { createRegistry } from '../../nodes/index.js';

describe('defineNode', () => {
  it('rejects a malformed definition, naming the node and the field', () => {
    expect(() =>
      defineNode({
        type: 'Bad Type',
        version: 0,
        category: 'x',
        description: 'x',
        params: { n: { kind: 'int', default: 5, min: 10, max: 20 }, e: { kind: 'enum', default: 'z', choices: ['a'] } },
        run: () => ({}),
      }),
    ).toThrow(
      'Node definition "Bad Type" is invalid: type must be kebab-case (optionally "pack/name"), got "Bad Type"; version must be an integer >= 1; params.n: default is below min; params.e: default must be one of the choices',
    );
  });
});

describe('NodeRegistry', () => {
  it('has the primitive nodes built in and gives a plain-JSON catalog', () => {
    const catalog = createRegistry().catalog();
    const types = catalog.map((n) => n.type);
    expect(types).toEqual(expect.arrayContaining(['text', 'int', 'float', 'seed']));
    // Plain data: a JSON round trip loses nothing (no functions, no classes).
    expect(JSON.parse(JSON.stringify(catalog))).toEqual(catalog);
    const seed = catalog.find((n) => n.type === 'seed')!;
    expect(seed).toMatchObject({
      displayName: 'Seed',
      category: 'primitives',
      outputs: [{ name: 'seed', type: 'INT' }],
      params: [
        { name: 'seed', kind: 'seed', default: 0, socket: 'INT' },
        { name: 'randomize', kind: 'boolean', default: false, socket: 'BOOLEAN' },
      ],
      flags: { output: false, idempotent: true },
    });
  });

  it('refuses a duplicate type', () => {
    const reg = createRegistry();
    expect(() => reg.register({ type: 'text', version: 1, category: 'x', description: 'x', run: () => ({}) })).toThrow('Node type "text" is already registered');
  });

  it('suggests the nearest names', () => {
    const reg = createRegistry();
    expect(reg.nearest('txt')).toEqual(['text', 'int']);
    expect(reg.nearest('sed')).toEqual(['seed']);
    expect(reg.nearest('frobnicate-widget')).toEqual([]);
  });
});

describe('loadNodePack', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skyloom-pack-'));

  it('registers the nodes a pack module exports', async () => {
    const path = join(dir, 'pack.mjs');
    writeFileSync(
      path,
      `export const nodes = [{ type: 'mine/echo', version: 1, category: 'mine', description: 'echo', params: { v: { kind: 'string', default: 'hi' } }, outputs: { v: { type: 'TEXT' } }, run: ({ v }) => ({ v }) }];`,
    );
    const reg = new NodeRegistry();
    expect(await loadNodePack(reg, path)).toEqual(['mine/echo']);
    expect(reg.get('mine/echo')?.description).toBe('echo');
  });

  it('names the path when a pack is missing, broken or malformed', async () => {
    const reg = new NodeRegistry();
    await expect(loadNodePack(reg, join(dir, 'nope.mjs'))).rejects.toThrow(`Node pack not found: ${join(dir, 'nope.mjs')}`);
    writeFileSync(join(dir, 'broken.mjs'), 'export const nodes = [;');
    await expect(loadNodePack(reg, join(dir, 'broken.mjs'))).rejects.toThrow(`Node pack ${join(dir, 'broken.mjs')} failed to load`);
    writeFileSync(join(dir, 'empty.mjs'), 'export const other = 1;');
    await expect(loadNodePack(reg, join(dir, 'empty.mjs'))).rejects.toThrow('must export "nodes"');
    writeFileSync(join(dir, 'bad.mjs'), "export const nodes = [{ type: 'x', version: 1, category: 'c', description: 'd' }];");
    await expect(loadNodePack(reg, join(dir, 'bad.mjs'))).rejects.toThrow('run must be a function');
  });
});
