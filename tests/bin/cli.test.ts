import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const pack = join(root, 'tests/fixtures/test-pack.ts');
const sumWorkflow = join(root, 'tests/fixtures/workflows/sum.json');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source as a subprocess; `onLine` sees stdout lines as they arrive. */
function cli(args: string[], onLine?: (line: string, child: ReturnType<typeof spawn>) => void): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) onLine?.(l, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'skyloom-cli-'));

describe('skyloom run', () => {
  it('runs a workflow, prints the output paths and exits 0', async () => {
    const out = tempDir();
    const r = await cli(['run', sumWorkflow, '--nodes', pack, '--out', out]);
    expect(r.stderr).not.toContain('rror');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(out, 'sum.txt'));
    expect(readFileSync(join(out, 'sum.txt'), 'utf8')).toBe('5\n');
  });

  it('applies --set overrides by the param kind', async () => {
    const out = tempDir();
    const r = await cli(['run', sumWorkflow, '--nodes', pack, '--out', out, '--set', 'b.value=10.5', '--set', 'save.filename=x.txt']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, 'x.txt'), 'utf8')).toBe('12.5\n');
  });

  it('prints newline-delimited JSON events with --json', async () => {
    const out = tempDir();
    const r = await cli(['run', sumWorkflow, '--nodes', pack, '--out', out, '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    // The fixture is a version 1 file: the upgrade is said first, as a log event.
    expect(events.map((e) => e.type)).toEqual(['log', 'execution_start', ...['a', 'b', 'sum', 'save'].flatMap(() => ['executing', 'executed']), 'execution_success']);
    expect(events[0].data).toEqual({ level: 'info', message: expect.stringContaining('upgraded from workflow format version 1') });
    expect(events.at(-1)!.data.outputs).toEqual({ save: { files: [{ path: join(out, 'sum.txt'), kind: 'text' }] } });
  });

  it('exits 2 listing every validation error with node id and pointer', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: 'skyloom-workflow',
        version: 1,
        nodes: [
          { id: 'a', type: 'test/numbr' },
          { id: 'sum', type: 'test/add', params: { offset: 'x' } },
        ],
      }),
    );
    const r = await cli(['run', file, '--nodes', pack, '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('The workflow has 3 errors:');
    expect(r.stderr).toContain('node "a" at /nodes/0/type: Unknown node type "test/numbr"; did you mean "test/number"?');
    expect(r.stderr).toContain('node "sum" at /nodes/1/params/offset: Param "offset" must be a number');
    expect(r.stderr).toContain('node "sum" at /nodes/1/inputs/a: Required input "a" (FLOAT) is not connected');
    const v = await cli(['validate', file, '--nodes', pack, '--json']);
    expect(v.code).toBe(2);
    const body = JSON.parse(v.stdout) as { data: { issues: Array<{ nodeId: string; pointer: string }> } };
    expect(body.data.issues.map((i) => `${i.nodeId} ${i.pointer}`)).toEqual(['a /nodes/0/type', 'sum /nodes/1/params/offset', 'sum /nodes/1/inputs/a']);
  });

  it("exits 2 before generating anything when a loop's context is longer than the clip made for it", async () => {
    const dir = tempDir();
    const loop = join(root, 'workflows/loop.json');
    const message = 'node "loop" at /nodes/7/params/context: The video has 16 frames, fewer than the 32 context frames';
    const r = await cli(['run', loop, '--out', dir, '--set', 'loop.context=32']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    // The clip was not generated: the sampler never reported progress, and nothing was written.
    expect(r.stdout).toBe('');
    expect(readdirSync(dir)).toEqual([]);
    const file = join(dir, 'loop-32.json');
    writeFileSync(file, readFileSync(loop, 'utf8').replace('"context": 4', '"context": 32'));
    const v = await cli(['validate', file]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(message);
  });

  it('exits 2 for bad arguments, a missing file, unparsable JSON or an unknown --set node', async () => {
    const dir = tempDir();
    expect((await cli(['run'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
    const missing = await cli(['run', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`Cannot read workflow file ${join(dir, 'nope.json')}: ENOENT`);
    writeFileSync(join(dir, 'broken.json'), '{ "format": ');
    const broken = await cli(['run', join(dir, 'broken.json')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain(`Workflow file ${join(dir, 'broken.json')} is not valid JSON`);
    const badSet = await cli(['run', sumWorkflow, '--nodes', pack, '--set', 'ghost.value=1']);
    expect(badSet.code).toBe(2);
    expect(badSet.stderr).toContain('the workflow has no node "ghost" (nodes: a, b, sum, save)');
    const badNumber = await cli(['run', sumWorkflow, '--nodes', pack, '--set', 'a.value=lots']);
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain('"lots" is not a number');
  });

  it('validates the file before --set: a workflow without nodes exits 2 with a pointer, not a stack trace', async () => {
    const dir = tempDir();
    const file = join(dir, 'no-nodes.json');
    writeFileSync(file, JSON.stringify({ format: 'skyloom-workflow', version: 1, title: 'empty' }));
    const r = await cli(['run', file, '--nodes', pack, '--set', 'a.value=3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('The workflow has 1 error:\n  - at /: the document missing required property "nodes"');
    expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
  });

  it('exits 1 when a node fails, naming the node', async () => {
    const dir = tempDir();
    const file = join(dir, 'fail.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: 'skyloom-workflow',
        version: 1,
        nodes: [
          { id: 'f', type: 'test/fail', params: { message: 'out of paint' } },
          { id: 'out', type: 'test/write-text', inputs: { value: { node: 'f', output: 'value' } } },
        ],
      }),
    );
    const r = await cli(['run', file, '--nodes', pack, '--out', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Node "f" (test/fail) failed: out of paint');
    expect(existsSync(join(dir, 'value.txt'))).toBe(false);
  });

  it('SIGINT cancels cleanly with exit 130 and leaves no half-written output', async () => {
    const out = tempDir();
    let sent = false;
    const r = await cli(['run', sumWorkflow, '--nodes', pack, '--out', out, '--json', '--set', 'save.ms=20000'], (line, child) => {
      const event = JSON.parse(line) as { type: string; data: { nodeId?: string } };
      if (!sent && event.type === 'executing' && event.data.nodeId === 'save') {
        sent = true;
        // Give the node time to open its partial file before the interrupt arrives.
        setTimeout(() => child.kill('SIGINT'), 300);
      }
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stdout).toContain('"type":"execution_interrupted"');
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('skyloom validate and nodes', () => {
  it('validate exits 0 for a valid file, and upgrades a v0 draft', async () => {
    const ok = await cli(['validate', sumWorkflow, '--nodes', pack]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid (4 nodes, upgraded from format version 1)');
    const v0 = await cli(['validate', join(root, 'tests/fixtures/workflows/v0-draft.json'), '--nodes', pack]);
    expect(v0.code).toBe(0);
    expect(v0.stdout).toContain('upgraded from format version 0');
  });

  it('validate lists a node that feeds no output as a warning, and still exits 0', async () => {
    const dir = tempDir();
    const doc = JSON.parse(readFileSync(sumWorkflow, 'utf8')) as { nodes: unknown[] };
    doc.nodes.push({ id: 'loose', type: 'test/add' });
    const file = join(dir, 'loose.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await cli(['validate', file, '--nodes', pack]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('  warning: node "loose" at /nodes/4: Node "loose" feeds no output node, so it does not run');
    expect(r.stdout).toContain('  warning: node "loose" at /nodes/4/inputs/a: Required input "a" (FLOAT) is not connected');
  });

  it('nodes --json prints the catalog, including loaded packs', async () => {
    const r = await cli(['nodes', '--json', '--nodes', pack]);
    expect(r.code).toBe(0);
    const catalog = JSON.parse(r.stdout) as Array<{ type: string; flags: { output: boolean } }>;
    expect(catalog.find((n) => n.type === 'test/write-text')?.flags.output).toBe(true);
    expect(catalog.map((n) => n.type)).toEqual(expect.arrayContaining(['text', 'int', 'float', 'seed', 'test/add']));
    const text = await cli(['nodes']);
    expect(text.stdout).toMatch(/primitives\n\s+float\s+A number\./);
  });
});
