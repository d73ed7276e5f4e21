// Names stay inside: library links are not followed, model folders are not taken from remote clients, and remote error texts reveal neither server paths nor whether an outside file exists.

import { symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, HistoryEntry, ValidateResponse } from '../../protocol/index.js';
import { createRegistry } from '../../nodes/index.js';
import { getJson, postJson, settled, startServer } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer({ registry: createRegistry() });
});
afterAll(async () => {
  await server?.stop();
});

describe('the workflow library', () => {
  it('refuses a name that is a symlink, to a file outside or inside, and does not list it', async () => {
    const dir = join(server.dataDir, 'workflows');
    symlinkSync(join(root, 'package.json'), join(dir, 'evil3.json'));
    writeFileSync(join(dir, 'real.json'), JSON.stringify({ format: 'skyloom-workflow', version: 1, nodes: [] }));
    symlinkSync(join(dir, 'real.json'), join(dir, 'alias.json'));
    for (const name of ['evil3', 'alias']) {
      const r = await getJson<ErrorBody>(server.base, `/api/workflows/${name}`);
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({ code: 'bad_path', message: `Saved workflow "${name}" is a link, not a file; it is not read` });
    }
    expect((await getJson<{ nodes: unknown[] }>(server.base, '/api/workflows/real')).body.nodes).toEqual([]);
    const list = await getJson<{ items: Array<{ name: string }> }>(server.base, '/api/workflows');
    expect(list.body.items.map((i) => i.name)).toEqual(['real']);
  });
});

const withModel = (name: string) => ({
  format: 'skyloom-workflow',
  version: 1,
  nodes: [{ id: 'model', type: 'load-model', params: { name } }],
});

describe('model names over the API', () => {
  it('are package names: a folder path is refused with one message, whether or not it exists', async () => {
    const messages: string[] = [];
    for (const path of ['/etc', '/nonexistent/folder', join(server.dataDir, 'uploads'), '../models']) {
      const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: withModel(path) });
      expect(r.status).toBe(400);
      const issue = r.body.error.issues![0]!;
      expect(issue).toMatchObject({ code: 'check_failed', nodeId: 'model', pointer: '/nodes/0/params/name' });
      messages.push(issue.message.replace(path, '<path>'));
    }
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toBe(
      'Model "<path>" is a folder path; this server takes model package names only (see GET /api/models). Folder paths work from the command line, or on a server started with --allow-model-paths.',
    );
  });

  it("an unknown package name is refused without the server's search paths", async () => {
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: withModel('no-such-model') });
    expect(r.status).toBe(400);
    const message = r.body.error.issues![0]!.message;
    expect(message).toMatch(/^Model "no-such-model" is not installed; installed: /);
    expect(message).not.toContain('searched');
    expect(message).not.toContain(root);
  });

  it('a server started with --allow-model-paths takes a folder path', async () => {
    const s = await startServer({ registry: createRegistry(), allowModelPaths: true });
    try {
      const r = await postJson<ValidateResponse>(s.base, '/api/validate', { workflow: withModel(join(root, 'models/packages/skyloom-tiny')) });
      expect(r.body.valid).toBe(true);
    } finally {
      await s.stop();
    }
  });
});

describe('input files named by a remote client', () => {
  it('an outside path is refused the same way whether it exists or not, and no message names a server folder', async () => {
    const run = async (path: string) => {
      const wf = {
        format: 'skyloom-workflow',
        version: 1,
        nodes: [
          { id: 'in', type: 'load-video', params: { path } },
          { id: 'out', type: 'save-video', inputs: { video: { node: 'in', output: 'video' } } },
        ],
      };
      const r = await postJson<{ promptId: string }>(server.base, '/api/prompt', { workflow: wf });
      expect(r.status).toBe(200);
      const entry = await settled<HistoryEntry>(server.base, r.body.promptId);
      expect(entry.status).toBe('error');
      return entry.error!.message;
    };
    const exists = await run('/etc/passwd');
    const missing = await run('/etc/no-such-file');
    expect(exists.replace('passwd', 'X')).toBe(missing.replace('no-such-file', 'X'));
    expect(exists).toContain('"/etc/passwd" is outside the input folder; only uploaded files can be read');
    const inside = await run('not-uploaded.mp4');
    expect(inside).toContain('File not found: not-uploaded.mp4');
    for (const m of [exists, missing, inside]) expect(m).not.toContain(server.dataDir);
  });
});
