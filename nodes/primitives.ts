// Primitive nodes: constant text, int, float and seed values to feed params through links, and the reroute point.

import { randomInt } from 'node:crypto';
import { defineNode } from '../engine/index.js';

export const textNode = defineNode({
  type: 'text',
  version: 1,
  category: 'primitives',
  description: 'A piece of text, to feed any TEXT input or text param.',
  params: { value: { kind: 'string', default: '', multiline: true } },
  outputs: { text: { type: 'TEXT' } },
  run: ({ value }) => ({ text: value }),
});

export const intNode = defineNode({
  type: 'int',
  version: 1,
  category: 'primitives',
  description: 'A whole number.',
  params: { value: { kind: 'int', default: 0 } },
  outputs: { value: { type: 'INT' } },
  run: ({ value }) => ({ value }),
});

export const floatNode = defineNode({
  type: 'float',
  version: 1,
  category: 'primitives',
  description: 'A number.',
  params: { value: { kind: 'float', default: 0 } },
  outputs: { value: { type: 'FLOAT' } },
  run: ({ value }) => ({ value }),
});

export const seedNode = defineNode({
  type: 'seed',
  version: 1,
  category: 'primitives',
  description: 'A seed for noise. With "randomize" a new seed is drawn on every run and logged, so a result can be reproduced.',
  params: {
    seed: { kind: 'seed', default: 0, description: 'The seed used when "randomize" is off.' },
    randomize: { kind: 'boolean', default: false, description: 'Draw a new seed on every run.' },
  },
  outputs: { seed: { type: 'INT' } },
  // A randomized seed must never come from the cache: a fresh fingerprint gives it a fresh key.
  fingerprint: ({ randomize }) => (randomize ? String(randomInt(0, 2 ** 48 - 1)) : ''),
  run: ({ seed, randomize }, ctx) => {
    if (!randomize) return { seed };
    const drawn = randomInt(0, 2 ** 48 - 1);
    ctx.log.info(`seed ${drawn}`);
    ctx.output({ values: { seed: drawn } });
    return { seed: drawn };
  },
});

export const rerouteNode = defineNode({
  type: 'reroute',
  version: 1,
  category: 'primitives',
  displayName: 'Reroute',
  description: 'A point a link passes through, to route long links around the graph; passes its value on unchanged.',
  inputs: { in: { type: '*' } },
  outputs: { out: { type: '*' } },
  run: (inputs) => ({ out: inputs.in }),
});

export const primitiveNodes = [textNode, intNode, floatNode, seedNode, rerouteNode];
