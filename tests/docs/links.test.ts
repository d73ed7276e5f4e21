// The docs link only to files inside the repository, and every such link resolves.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...['engine', 'nodes', 'models', 'media', 'server'].map((d) => `${d}/README.md`),
];

describe('links in the docs', () => {
  it('every layer has its README, and docs/architecture.md exists', () => {
    for (const doc of docs) expect(existsSync(join(root, doc)), doc).toBe(true);
    expect(docs).toContain('docs/architecture.md');
  });

  it('point to files that exist inside the repository', () => {
    const bad: string[] = [];
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const path = resolve(dirname(join(root, doc)), target.split('#')[0]);
        const inside = relative(root, path);
        if (inside.startsWith('..') || !existsSync(path)) bad.push(`${doc} → ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
