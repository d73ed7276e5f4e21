// Odd input gets a 400 naming what is wrong, never a 500: deep JSON, malformed percent-encoding, prototype names, weak tokens.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, ValidateResponse } from '../../protocol/index.js';
import { checkJsonDepth } from '../../server/body.js';
import { createApp } from '../../server/app.js';
import { resolveToken } from '../../server/security.js';
import { getJson, postJson, quietLog, raw, settled, startServer, tempDir, testRegistry, workflow } from './helpers.js';

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

const code = (body: Buffer) => (JSON.parse(body.toString()) as ErrorBody).error.code;

describe('JSON depth', () => {
  it('a body nested 100k levels is a 400 json_too_deep, and the server keeps serving', async () => {
    const deep = `{"workflow":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const r = await raw(server.base, 'POST', '/api/prompt', { headers: { 'content-type': 'application/json' }, body: deep });
    expect(r.status).toBe(400);
    expect(code(r.body)).toBe('json_too_deep');
    const put = await raw(server.base, 'PUT', '/api/workflows/deep', { headers: { 'content-type': 'application/json' }, body: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}` });
    expect(put.status).toBe(400);
    expect(code(put.body)).toBe('json_too_deep');
    expect((await getJson(server.base, '/api/queue')).status).toBe(200);
  });

  it('counts brackets outside strings only', () => {
    expect(() => checkJsonDepth(`{"s":"${'['.repeat(500)}\\"${'{'.repeat(500)}"}`, 4)).not.toThrow();
    expect(() => checkJsonDepth('[[[[[1]]]]]', 4)).toThrow('nests deeper than 4 levels');
  });
});

describe('malformed percent-encoding', () => {
  it.each(['/api/outputs/%ff', '/api/outputs/%c0%ae%c0%ae/x', '/api/uploads/a%ffb.png', '/api/workflows/%ff', '/api/history/%e0%80'])('%s is a 400 bad_url', async (path) => {
    const r = await raw(server.base, 'GET', path);
    expect(r.status).toBe(400);
    expect(code(r.body)).toBe('bad_url');
  });

  it('a malformed token cookie is refused as a wrong token, not a crash', async () => {
    const s = await startServer({ token: 'a-token-of-enough-length' });
    try {
      const r = await raw(s.base, 'GET', '/api/queue', { headers: { cookie: 'skyloom_token=%ff' } });
      expect(r.status).toBe(401);
    } finally {
      await s.stop();
    }
  });
});

describe('prototype names', () => {
  it('a node id "__proto__" (or "constructor") is refused before anything runs', async () => {
    for (const id of ['__proto__', 'constructor', 'toString']) {
      const wf = workflow({ id: 'a', type: 'test/number', params: { value: 2 } }, { id, type: 'test/collect', inputs: { value: { node: 'a', output: 'value' } } });
      const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: wf });
      expect(r.status).toBe(400);
      const issue = r.body.error.issues!.find((i) => i.code === 'reserved_id');
      expect(issue).toMatchObject({ nodeId: id, pointer: '/nodes/1/id' });
    }
    expect((await getJson<{ pending: unknown[] }>(server.base, '/api/queue')).body.pending).toEqual([]);
  });

  it('params named constructor, toString or __proto__ are unknown params, each named', async () => {
    const text = '{"workflow":{"format":"skyloom-workflow","version":1,"nodes":[{"id":"a","type":"test/number","params":{"value":1,"constructor":1,"toString":2,"__proto__":3}}]}}';
    const r = await raw(server.base, 'POST', '/api/validate', { headers: { 'content-type': 'application/json' }, body: text });
    expect(r.status).toBe(200);
    const out = r.json<ValidateResponse>();
    expect(out.valid).toBe(false);
    const pointers = (out as { issues: Array<{ code: string; pointer: string }> }).issues
      .filter((i) => i.code === 'unknown_param')
      .map((i) => i.pointer)
      .sort();
    expect(pointers).toEqual(['/nodes/0/params/__proto__', '/nodes/0/params/constructor', '/nodes/0/params/toString']);
  });

  it('a proper workflow still runs and keeps every output in history', async () => {
    const wf = workflow({ id: 'a', type: 'test/number', params: { value: 2 } }, { id: 'proto', type: 'test/collect', inputs: { value: { node: 'a', output: 'value' } } });
    const r = await postJson<{ promptId: string }>(server.base, '/api/prompt', { workflow: wf });
    const entry = await settled<{ status: string; outputs: Record<string, unknown> }>(server.base, r.body.promptId);
    expect(entry.status).toBe('success');
    expect(entry.outputs).toEqual({ proto: { values: { value: 2 } } });
  });
});

describe('access token', () => {
  it('a token under 16 characters is refused at start, saying how to make one', () => {
    expect(() => createApp({ dataDir: tempDir(), registry: testRegistry(), log: quietLog, token: 'x' })).toThrow(/at least 16 characters.*openssl rand/);
  });

  it('comes from the flag, SKYLOOM_TOKEN, or the first line of a token file', () => {
    const file = join(tempDir(), 'token');
    writeFileSync(file, 'from-a-file-0123456789\nignored\n');
    expect(resolveToken('from-flag', undefined, {})).toBe('from-flag');
    expect(resolveToken(undefined, undefined, { SKYLOOM_TOKEN: 'from-env' })).toBe('from-env');
    expect(resolveToken(undefined, file, {})).toBe('from-a-file-0123456789');
    expect(resolveToken(undefined, undefined, { SKYLOOM_TOKEN_FILE: file })).toBe('from-a-file-0123456789');
    expect(resolveToken(undefined, undefined, {})).toBeUndefined();
    expect(() => resolveToken(undefined, join(tempDir(), 'none'), {})).toThrow(/Cannot read the token file .*ENOENT/);
  });
});
