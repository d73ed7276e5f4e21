// The README's node example type-checks under the project's strict settings, and defineNode's inference rejects wrong usage.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** The first ```ts block of the README section `heading`. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n## ${heading}\n`);
  if (at < 0) throw new Error(`README.md has no "## ${heading}" section`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`README.md's "${heading}" section has no ts block`);
  return block[1];
}

let options: ts.CompilerOptions | undefined;

/** The project's compiler options (tsconfig.json), with `skyloom` resolving to the engine's source as a user's install would. */
function compilerOptions(): ts.CompilerOptions {
  if (options) return options;
  const file = ts.readConfigFile(join(root, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(file.config, ts.sys, root);
  options = { ...parsed.options, noEmit: true, baseUrl: root, paths: { skyloom: ['engine/index.ts'] } };
  return options;
}

/** Type-checks `source` as a module of the repository; returns its diagnostics as `TSnnnn: message` lines. */
function typeCheck(source: string): string[] {
  const file = join(root, 'tests/docs/__example__.ts');
  const host = ts.createCompilerHost(compilerOptions());
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], compilerOptions(), host);
  const sourceFile = program.getSourceFile(file)!;
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map(
    (d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
  );
}

describe("README's Writing nodes example", () => {
  const example = readmeBlock('Writing nodes');

  it('imports defineNode from the package and type-checks with no errors', () => {
    expect(example).toContain("from 'skyloom'");
    expect(typeCheck(example)).toEqual([]);
  }, 60_000);

  it('fails to type-check when run uses an input as the wrong type (inference is not `any`)', () => {
    const wrong = example.replace('run: ({ a, b, offset }) => ({ sum: a + (b ?? 0) + offset })', 'run: ({ a, offset }) => ({ sum: a.toUpperCase() + offset })');
    expect(wrong).not.toBe(example);
    expect(typeCheck(wrong).join('\n')).toMatch(/TS2339: Property 'toUpperCase' does not exist on type 'number'/);
  }, 60_000);

  it('fails when an optional input is used as if it were always there', () => {
    const wrong = example.replace('(b ?? 0)', 'b');
    expect(wrong).not.toBe(example);
    expect(typeCheck(wrong).join('\n')).toMatch(/TS18048: 'b' is possibly 'undefined'/);
  }, 60_000);

  it('types an enum param as the union of its choices, and an output by its socket type', () => {
    const source = `import { defineNode } from 'skyloom';
export const n = defineNode({
  type: 'mine/pick',
  version: 1,
  category: 'test',
  description: 'Picks.',
  params: { mode: { kind: 'enum', default: 'up', choices: ['up', 'down'] }, on: { kind: 'boolean', default: true } },
  outputs: { text: { type: 'TEXT' } },
  run: ({ mode, on }) => {
    const m: 'up' | 'down' = mode;
    const b: boolean = on;
    // @ts-expect-error 'sideways' is not one of the choices
    const x: typeof mode = 'sideways';
    return { text: \`\${m} \${b} \${x}\` };
  },
});
export const bad = defineNode({
  type: 'mine/bad',
  version: 1,
  category: 'test',
  description: 'Returns a number on a TEXT output.',
  outputs: { text: { type: 'TEXT' } },
  run: () => ({ text: 42 }),
});
`;
    const problems = typeCheck(source);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/TS2322: Type 'number' is not assignable to type 'string'/);
  }, 60_000);
});
