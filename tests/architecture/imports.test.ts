// The import rule as a test: every import in the repository's source points the one allowed way between layers.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

type Layer = 'engine' | 'protocol' | 'media' | 'models' | 'nodes' | 'server' | 'bin' | 'editor' | 'scripts';

/**
 * What each layer may import at run time, and what it may import as types only. Everything not
 * listed is a wrong-way arrow (docs/architecture.md explains the rule).
 */
const RULES: Record<Layer, { runtime: Layer[]; types: Layer[] }> = {
  engine: { runtime: ['engine'], types: [] },
  media: { runtime: ['media'], types: [] },
  models: { runtime: ['models'], types: [] },
  protocol: { runtime: ['protocol'], types: ['engine'] },
  nodes: { runtime: ['nodes', 'engine', 'models', 'media'], types: [] },
  server: { runtime: ['server', 'engine', 'protocol', 'models', 'media', 'nodes'], types: [] },
  bin: { runtime: ['bin', 'engine', 'protocol', 'models', 'media', 'nodes', 'server'], types: [] },
  editor: { runtime: ['editor', 'protocol'], types: ['engine'] },
  scripts: { runtime: ['engine', 'scripts'], types: [] },
};

/** Packages only some layers may load: HTTP, queues and databases belong to the server; ONNX Runtime to one module. */
const PACKAGES: Array<{ name: RegExp; allowed: (file: string) => boolean; why: string }> = [
  { name: /^(express|ws|bullmq|ioredis|better-sqlite3|busboy)$/, allowed: (f) => /^(server|bin)\//.test(f), why: "HTTP, queues and storage are the server's" },
  { name: /^onnxruntime-node$/, allowed: (f) => f === 'models/runtime/onnx.ts', why: 'onnxruntime is imported only in models/runtime/onnx.ts' },
];

const SKIP = new Set(['node_modules', 'dist', 'training', 'packages']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|vue)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

/** Static imports and re-exports (with whether they are type-only), and dynamic imports. */
export function importsOf(text: string): Import[] {
  const out: Import[] = [];
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  const statement = /^\s*(import|export)\s+(type\s+)?([\s\S]*?)\s*from\s*['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(statement)) {
    const clause = m[3];
    // `import { type A, type B } from` is type-only too; a mix is not.
    const names = /^\{([\s\S]*)\}$/
      .exec(clause.trim())?.[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const allTyped = names !== undefined && names.length > 0 && names.every((n) => n.startsWith('type '));
    out.push({ specifier: m[4], typeOnly: Boolean(m[2]) || allTyped, line: lineAt(m.index) });
  }
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push({ specifier: m[1], typeOnly: false, line: lineAt(m.index) });
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ specifier: m[1], typeOnly: false, line: lineAt(m.index) });
  return out;
}

function layerOf(file: string): Layer | undefined {
  const top = relative(root, file).split(sep)[0];
  return top in RULES ? (top as Layer) : undefined;
}

/** Every arrow that points the wrong way, as `file:line → specifier (why)`. */
function violations(): string[] {
  const out: string[] = [];
  const files = (Object.keys(RULES) as Layer[]).filter((l) => l !== 'editor').flatMap((l) => sources(join(root, l)));
  files.push(...sources(join(root, 'editor', 'src')));
  for (const file of files) {
    const from = layerOf(file)!;
    const rel = relative(root, file).split(sep).join('/');
    for (const imp of importsOf(readFileSync(file, 'utf8'))) {
      const where = `${rel}:${imp.line} → ${imp.specifier}`;
      if (imp.specifier.startsWith('.')) {
        const to = layerOf(resolve(dirname(file), imp.specifier));
        if (to === undefined) {
          out.push(`${where} (outside the source layers)`);
          continue;
        }
        const rule = RULES[from];
        if (rule.runtime.includes(to)) continue;
        if (rule.types.includes(to) && imp.typeOnly) continue;
        out.push(`${where} (${from} may not import ${rule.types.includes(to) ? `${to} except as types` : to})`);
      } else {
        const name = imp.specifier.startsWith('@') ? imp.specifier.split('/').slice(0, 2).join('/') : imp.specifier.split('/')[0];
        for (const p of PACKAGES) if (p.name.test(name) && !p.allowed(rel)) out.push(`${where} (${p.why})`);
      }
    }
  }
  return out;
}

describe('the direction of imports', () => {
  it('reads type-only, mixed, side-effect and dynamic imports', () => {
    const text = [
      "import type { A } from '../engine/types.js';",
      "import { type B, type C } from '../engine/index.js';",
      "import { d, type E } from '../engine/index.js';",
      "export * from './x.js';",
      "import './side.js';",
      "const m = await import('../server/app.js');",
    ].join('\n');
    expect(importsOf(text).map((i) => `${i.line} ${i.specifier} ${i.typeOnly}`)).toEqual([
      '1 ../engine/types.js true',
      '2 ../engine/index.js true',
      '3 ../engine/index.js false',
      '4 ./x.js false',
      '5 ./side.js false',
      '6 ../server/app.js false',
    ]);
  });

  it('finds no import that runs the wrong way between layers', () => {
    expect(violations()).toEqual([]);
  });
});
