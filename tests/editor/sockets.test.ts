// The editor's link rules: socket type compatibility (the engine's rule), cycles, and socket colours.

import { describe, expect, it } from 'vitest';
import type { Workflow } from '../../engine/workflow.js';
import { categoryColor, checkLink, socketColor, socketsCompatible, wouldCycle } from '../../editor/src/lib/sockets';

const doc = (links: Array<[string, string]>): Pick<Workflow, 'nodes'> => {
  const ids = new Set(links.flat());
  return {
    nodes: [...ids].map((id) => ({
      id,
      type: 't',
      inputs: Object.fromEntries(links.filter(([, to]) => to === id).map(([from], i) => [`in${i}`, { node: from, output: 'out' }])),
    })),
  };
};

describe('socket compatibility', () => {
  it('joins equal types only', () => {
    expect(socketsCompatible('LATENT', 'LATENT')).toBe(true);
    expect(socketsCompatible('TEXT', 'MODEL')).toBe(false);
    expect(socketsCompatible('INT', 'FLOAT')).toBe(false);
    expect(socketsCompatible('VIDEO', 'IMAGE')).toBe(false);
    expect(socketsCompatible('MY_PACK_TYPE', 'MY_PACK_TYPE')).toBe(true);
  });

  it('lets "*" on either side accept anything', () => {
    expect(socketsCompatible('*', 'MODEL')).toBe(true);
    expect(socketsCompatible('VIDEO', '*')).toBe(true);
  });

  it('is case-sensitive, as the engine is', () => {
    expect(socketsCompatible('text', 'TEXT')).toBe(false);
  });
});

describe('checkLink', () => {
  it('refuses a type mismatch with a reason naming both types and the input', () => {
    const r = checkLink(doc([]), { node: 'a', type: 'TEXT' }, { node: 'b', type: 'MODEL', name: 'model' });
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('Cannot connect TEXT to "model", which takes MODEL');
  });

  it('refuses a link that closes a cycle, and a node linked to itself', () => {
    const d = doc([
      ['a', 'b'],
      ['b', 'c'],
    ]);
    expect(wouldCycle(d, 'c', 'a')).toBe(true);
    expect(wouldCycle(d, 'a', 'a')).toBe(true);
    expect(wouldCycle(d, 'a', 'c')).toBe(false);
    expect(checkLink(d, { node: 'c', type: 'X' }, { node: 'a', type: 'X', name: 'in' }).reason).toMatch(/cycle/);
  });

  it('accepts a matching, acyclic link', () => {
    expect(checkLink(doc([['a', 'b']]), { node: 'b', type: 'LATENT' }, { node: 'c', type: 'LATENT', name: 'latent' })).toEqual({ ok: true });
  });
});

describe('colours', () => {
  it('gives built-in types distinct colours and unknown types a stable one', () => {
    const builtIn = ['MODEL', 'CONDITIONING', 'LATENT', 'VIDEO', 'IMAGE', 'TEXT', 'INT', 'FLOAT', 'BOOLEAN'].map(socketColor);
    expect(new Set(builtIn).size).toBe(builtIn.length);
    expect(socketColor('MY_TYPE')).toBe(socketColor('MY_TYPE'));
    expect(socketColor('MY_TYPE')).toMatch(/^hsl\(\d+, 60%, 65%\)$/);
    expect(categoryColor('sampling')).not.toBe(categoryColor('vae'));
    expect(categoryColor('my pack')).toMatch(/^hsl/);
  });
});
