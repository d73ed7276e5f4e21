// Bad input and hostile requests: each gets a clear 4xx with a code, and the server keeps serving.

import { createHash } from 'node:crypto';
import { readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidateResponseSchema, type ErrorBody, type UploadResponse, type ValidateResponse } from '../../protocol/index.js';
import { checkBind } from '../../server/security.js';
import { serve } from '../../server/serve.js';
import { Client, getJson, postJson, quietLog, raw, startServer, tempDir, testRegistry, workflow } from './helpers.js';

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer({ maxUploadBytes: 4096 });
  writeFileSync(join(server.dataDir, 'output', 'ok.txt'), 'fine\n');
  // A symlink inside the output folder that points out of it, at the database.
  symlinkSync(join(server.dataDir, 'skyloom.db'), join(server.dataDir, 'output', 'escape.db'));
});
afterAll(async () => {
  await server?.stop();
});

async function stillServing(): Promise<void> {
  const r = await getJson<{ versions: unknown }>(server.base, '/api/system');
  expect(r.status).toBe(200);
}

const code = (body: Buffer | unknown) => (Buffer.isBuffer(body) ? (JSON.parse(body.toString()) as ErrorBody) : (body as ErrorBody)).error.code;

function multipart(filename: string, contentType: string, content: Buffer): { body: Buffer; headers: Record<string, string> } {
  const boundary = '----skyloomtest' + Math.random().toString(16).slice(2);
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) } };
}

describe('malformed and invalid requests', () => {
  it('malformed JSON is a 400 naming the problem', async () => {
    const r = await raw(server.base, 'POST', '/api/prompt', { headers: { 'content-type': 'application/json' }, body: '{"workflow": {' });
    expect(r.status).toBe(400);
    expect(code(r.body)).toBe('malformed_json');
    await stillServing();
  });

  it('a body without a workflow, or with unknown fields, is a 400', async () => {
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { clientId: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_body');
    expect(r.body.error.message).toContain('workflow');
    const extra = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: workflow(), bogus: 1 });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toContain('unknown property "bogus"');
    const notJson = await raw(server.base, 'POST', '/api/prompt', { headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(notJson.status).toBe(400);
    expect(code(notJson.body)).toBe('invalid_body');
  });

  it('an invalid workflow is a 400 listing every issue with node id and pointer', async () => {
    const wf = workflow({ id: 'a', type: 'test/number', params: { value: 5000 } }, { id: 'b', type: 'test/nope' }, { id: 'c', type: 'test/add' });
    const r = await postJson<ErrorBody>(server.base, '/api/prompt', { workflow: wf });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_workflow');
    const issues = r.body.error.issues!;
    expect(issues.map((i) => [i.nodeId, i.pointer]).sort()).toEqual([
      ['a', '/nodes/0/params/value'],
      ['b', '/nodes/1/type'],
      ['c', '/nodes/2/inputs/a'],
    ]);
    expect(issues.every((i) => i.message.length > 0)).toBe(true);
    const queue = await getJson<{ pending: unknown[] }>(server.base, '/api/queue');
    expect(queue.body.pending).toEqual([]);
    await stillServing();
  });

  it('POST /api/validate answers every issue without queueing, or the workflow as it would run', async () => {
    const bad = workflow({ id: 'a', type: 'test/number', params: { value: 5000 } }, { id: 'b', type: 'test/nope' });
    const r = await postJson<ValidateResponse>(server.base, '/api/validate', { workflow: bad });
    expect(r.status).toBe(200);
    expect(r.body.valid).toBe(false);
    const issues = r.body.valid ? [] : r.body.issues;
    expect(issues.map((i) => [i.nodeId, i.pointer, i.code]).sort()).toEqual([
      ['a', '/nodes/0/params/value', 'param_range'],
      ['b', '/nodes/1/type', 'unknown_node_type'],
    ]);
    const good = workflow({ id: 'a', type: 'test/number', params: { value: 2 } });
    const ok = await postJson<ValidateResponse>(server.base, '/api/validate', { workflow: good });
    const conforms = new Ajv({ strict: false }).compile(ValidateResponseSchema);
    expect([conforms(r.body), conforms(ok.body)]).toEqual([true, true]);
    expect(ok.body).toEqual({ valid: true, workflow: expect.objectContaining({ format: 'skyloom-workflow', version: 3, nodes: good.nodes }) });
    // A body that is not a workflow request is still the client's mistake.
    const notBody = await postJson<ErrorBody>(server.base, '/api/validate', { flow: good });
    expect(notBody.status).toBe(400);
    expect(notBody.body.error.code).toBe('invalid_body');
    expect((await getJson<{ pending: unknown[] }>(server.base, '/api/queue')).body.pending).toEqual([]);
  });

  it('a JSON body over the limit is a 413', async () => {
    const s = await startServer({ maxJsonBytes: 1024 });
    try {
      const r = await postJson<ErrorBody>(s.base, '/api/prompt', { workflow: { ...workflow(), description: 'x'.repeat(5000) } });
      expect(r.status).toBe(413);
      expect(r.body.error.code).toBe('payload_too_large');
      expect((await getJson(s.base, '/api/queue')).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it('unknown routes and bad queries are clear 4xx', async () => {
    const r = await getJson<ErrorBody>(server.base, '/api/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
    const q = await getJson<ErrorBody>(server.base, '/api/history?limit=-1');
    expect(q.status).toBe(400);
    expect(q.body.error.code).toBe('invalid_query');
    const h = await getJson<ErrorBody>(server.base, '/api/history/unknown-id');
    expect(h.status).toBe(404);
  });
});

describe('uploads', () => {
  it('stores an image under its content hash, once, and serves it back', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .png()
      .toBuffer();
    const sha = createHash('sha256').update(png).digest('hex');
    const form = multipart('whatever-name.bin', 'application/octet-stream', png);
    const first = await raw(server.base, 'POST', '/api/uploads', form);
    expect(first.status).toBe(201);
    expect(first.json<UploadResponse>()).toEqual({
      name: `${sha}.png`,
      sha256: sha,
      size: png.length,
      mime: 'image/png',
      kind: 'image',
      url: `/api/uploads/${sha}.png`,
      created: true,
    });
    const second = await raw(server.base, 'POST', '/api/uploads', form);
    expect(second.status).toBe(200);
    expect(second.json<UploadResponse>().created).toBe(false);
    const back = await raw(server.base, 'GET', `/api/uploads/${sha}.png`);
    expect(back.status).toBe(200);
    expect(back.body.equals(png)).toBe(true);
  });

  it('refuses an oversized upload with 413 and keeps nothing', async () => {
    const big = Buffer.alloc(10_000, 1);
    big.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const r = await raw(server.base, 'POST', '/api/uploads', multipart('big.png', 'image/png', big));
    expect(r.status).toBe(413);
    expect(code(r.body)).toBe('payload_too_large');
    expect(readdirSync(join(server.dataDir, 'uploads', '.partial'))).toEqual([]);
    await stillServing();
  });

  it('refuses a mislabelled upload (HTML named .png, sent as image/png) with 415', async () => {
    const r = await raw(server.base, 'POST', '/api/uploads', multipart('cat.png', 'image/png', Buffer.from('<html><script>alert(1)</script></html>')));
    expect(r.status).toBe(415);
    expect(code(r.body)).toBe('unsupported_media_type');
    // Only earlier good uploads and the shipped samples' folder (installed at start) are there.
    expect(readdirSync(join(server.dataDir, 'uploads')).filter((n) => !n.startsWith('.') && n !== 'workflows' && !/^[0-9a-f]{64}\.png$/.test(n))).toEqual([]);
    const notMultipart = await raw(server.base, 'POST', '/api/uploads', { headers: { 'content-type': 'image/png' }, body: 'x' });
    expect(notMultipart.status).toBe(400);
    expect(code(notMultipart.body)).toBe('not_multipart');
  });
});

describe('path traversal', () => {
  const attempts = [
    '/api/outputs/../skyloom.db',
    '/api/outputs/%2e%2e/skyloom.db',
    '/api/outputs/%2E%2E%2Fskyloom.db',
    '/api/outputs/..%5cskyloom.db',
    '/api/outputs//etc/passwd',
    '/api/outputs/%2Fetc%2Fpasswd',
    '/api/outputs/escape.db',
    '/api/uploads/../skyloom.db',
    '/api/uploads/%2e%2e/output/ok.txt',
    '/api/uploads/%2Fetc%2Fpasswd',
  ];
  for (const path of attempts) {
    it(`refuses ${path}`, async () => {
      const r = await raw(server.base, 'GET', path);
      expect(r.status).toBe(400);
      expect(code(r.body)).toBe('bad_path');
      expect(r.body.toString()).not.toContain('SQLite');
    });
  }

  it('still serves a plain file, and 404s a missing one', async () => {
    const ok = await raw(server.base, 'GET', '/api/outputs/ok.txt');
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('fine\n');
    const missing = await raw(server.base, 'GET', '/api/outputs/missing.txt');
    expect(missing.status).toBe(404);
  });

  it('refuses traversal in extract and in workflow names', async () => {
    const r = await postJson<ErrorBody>(server.base, '/api/workflows/extract', { output: '../skyloom.db' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('bad_path');
    const abs = await postJson<ErrorBody>(server.base, '/api/workflows/extract', { upload: '/etc/passwd' });
    expect(abs.status).toBe(400);
    const name = await raw(server.base, 'GET', '/api/workflows/..%2F..%2Fskyloom');
    expect(name.status).toBe(400);
    expect(code(name.body)).toBe('bad_workflow_name');
    const dot = await raw(server.base, 'PUT', '/api/workflows/.hidden', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(workflow()) });
    expect(dot.status).toBe(400);
  });
});

describe('saved workflows', () => {
  it('puts, lists, gets and deletes; a non-workflow is refused with issues', async () => {
    const wf = workflow({ id: 'a', type: 'test/number', params: { value: 2 } });
    const put = await raw(server.base, 'PUT', '/api/workflows/my%20flow', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(wf) });
    expect(put.status).toBe(201);
    const again = await raw(server.base, 'PUT', '/api/workflows/my%20flow', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(wf) });
    expect(again.status).toBe(200);
    expect((await getJson(server.base, '/api/workflows/my%20flow')).body).toEqual(wf);
    const list = await getJson<{ items: Array<{ name: string }> }>(server.base, '/api/workflows');
    expect(list.body.items.map((i) => i.name)).toEqual(['my flow']);
    const bad = await raw(server.base, 'PUT', '/api/workflows/broken', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'skyloom-workflow', version: 1, nodes: 'no' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json<ErrorBody>().error.issues![0].pointer).toBe('/nodes');
    const del = await fetch(`${server.base}/api/workflows/my%20flow`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await getJson(server.base, '/api/workflows/my%20flow')).status).toBe(404);
  });
});

describe('origin and host', () => {
  it('refuses a foreign Origin, a cross-site fetch and a rebound Host, and accepts its own origin', async () => {
    const foreign = await raw(server.base, 'POST', '/api/prompt', {
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: workflow() }),
    });
    expect(foreign.status).toBe(403);
    expect(code(foreign.body)).toBe('forbidden_origin');
    const nullOrigin = await raw(server.base, 'GET', '/api/queue', { headers: { origin: 'null' } });
    expect(nullOrigin.status).toBe(403);
    const crossSite = await raw(server.base, 'GET', '/api/outputs/ok.txt', { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    const rebound = await raw(server.base, 'GET', '/api/queue', { headers: { host: 'evil.example' } });
    expect(rebound.status).toBe(403);
    expect(code(rebound.body)).toBe('forbidden_host');
    const own = await raw(server.base, 'GET', '/api/queue', { headers: { origin: server.base } });
    expect(own.status).toBe(200);
    const dev = await startServer({ allowedOrigins: ['http://localhost:5173'] });
    try {
      expect((await raw(dev.base, 'GET', '/api/queue', { headers: { origin: 'http://localhost:5173' } })).status).toBe(200);
      expect((await raw(dev.base, 'GET', '/api/queue', { headers: { origin: 'http://localhost:5174' } })).status).toBe(403);
    } finally {
      await dev.stop();
    }
    await expect(new Client(server.base, { clientId: 'x' }, { origin: 'http://evil.example' }).opened).rejects.toThrow('upgrade refused: 403');
    await stillServing();
  });
});

describe('the editor', () => {
  it('is served from its built folder at /, behind the same token', async () => {
    const editorDir = tempDir('skyloom-editor-');
    writeFileSync(join(editorDir, 'index.html'), '<!doctype html><title>Skyloom</title>');
    const s = await startServer({ editorDir, token: 'tok-0123456789abcdef' });
    try {
      expect((await raw(s.base, 'GET', '/')).status).toBe(401);
      const page = await raw(s.base, 'GET', '/?token=tok-0123456789abcdef');
      expect(page.status).toBe(200);
      expect(page.body.toString()).toBe('<!doctype html><title>Skyloom</title>');
      expect((await raw(s.base, 'GET', '/api/nope', { headers: { authorization: 'Bearer tok-0123456789abcdef' } })).status).toBe(404);
    } finally {
      await s.stop();
    }
  });
});

describe('access token', () => {
  it('requires the token on every route and on the WebSocket', async () => {
    const s = await startServer({ token: 's3cret-0123456789abcdef' });
    try {
      const none = await raw(s.base, 'GET', '/api/queue');
      expect(none.status).toBe(401);
      expect(code(none.body)).toBe('unauthorized');
      const wrong = await raw(s.base, 'GET', '/api/queue', { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      expect(code(wrong.body)).toBe('unauthorized');
      const outputs = await raw(s.base, 'GET', '/api/outputs/x.txt');
      expect(outputs.status).toBe(401);
      expect((await raw(s.base, 'GET', '/api/queue', { headers: { authorization: 'Bearer s3cret-0123456789abcdef' } })).status).toBe(200);
      expect((await raw(s.base, 'GET', '/api/queue', { headers: { 'x-skyloom-token': 's3cret-0123456789abcdef' } })).status).toBe(200);
      const query = await raw(s.base, 'GET', '/api/queue?token=s3cret-0123456789abcdef');
      expect(query.status).toBe(200);
      const cookie = String(query.headers['set-cookie']);
      expect(cookie).toContain('skyloom_token=s3cret-0123456789abcdef');
      expect(cookie).toContain('HttpOnly');
      expect((await raw(s.base, 'GET', '/api/queue', { headers: { cookie: 'skyloom_token=s3cret-0123456789abcdef' } })).status).toBe(200);
      await expect(new Client(s.base, { clientId: 'x' }).opened).rejects.toThrow('upgrade refused: 401');
      await expect(new Client(s.base, { clientId: 'x', token: 'wrong' }).opened).rejects.toThrow('upgrade refused: 401');
      const ok = new Client(s.base, { clientId: 'x', token: 's3cret-0123456789abcdef' });
      await ok.opened;
      await ok.waitFor((g) => g.messages.length > 0, 'status');
      expect(ok.got.messages[0].type).toBe('status');
      ok.close();
    } finally {
      await s.stop();
    }
  });

  it('refuses to bind a non-loopback address without a token', async () => {
    await expect(serve({ host: '0.0.0.0', port: 0, dataDir: tempDir(), registry: testRegistry(), log: quietLog })).rejects.toThrow(
      /Refusing to listen on 0\.0\.0\.0 without an access token/,
    );
    expect(() => checkBind('0.0.0.0', 'tok')).not.toThrow();
    expect(() => checkBind('::1', undefined)).not.toThrow();
    expect(() => checkBind('192.168.1.10', undefined)).toThrow(/--token/);
  });
});
