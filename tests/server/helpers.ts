// Helpers for server tests: a real server on a free loopback port, a real ws client that records what it hears.

import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { NodeRegistry, type Logger, type NodeDefinition, type Workflow, type WorkflowNode } from '../../engine/index.js';
import { decodePreviewFrame, type PreviewMetadata, type ServerMessage } from '../../protocol/index.js';
import { primitiveNodes } from '../../nodes/primitives.js';
import { serve, type RunningServer, type ServeOptions } from '../../server/serve.js';
import { nodes as testNodes } from '../fixtures/test-pack.js';

export const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export const tempDir = (prefix = 'skyloom-server-') => mkdtempSync(join(tmpdir(), prefix));

export function testRegistry(extra: NodeDefinition[] = []): NodeRegistry {
  return new NodeRegistry([...primitiveNodes, ...testNodes, ...extra]);
}

export function workflow(...nodes: WorkflowNode[]): Workflow {
  return { format: 'skyloom-workflow', version: 3, nodes };
}

/** Starts a server on 127.0.0.1 with a free port and the test pack. */
export async function startServer(options: Partial<ServeOptions> = {}): Promise<RunningServer & { base: string; dataDir: string }> {
  const dataDir = options.dataDir ?? tempDir();
  const running = await serve({ host: '127.0.0.1', port: 0, dataDir, registry: testRegistry(), log: quietLog, ...options });
  return { ...running, base: running.url.replace(/\/$/, ''), dataDir };
}

export interface Received {
  messages: ServerMessage[];
  previews: Array<{ type: number; metadata: PreviewMetadata; image: Buffer }>;
}

/** A WebSocket client that records every message; `waitFor` resolves once a predicate holds. */
export class Client {
  readonly ws: WebSocket;
  readonly got: Received = { messages: [], previews: [] };
  readonly #waiters: Array<() => void> = [];
  readonly opened: Promise<void>;

  constructor(base: string, query: Record<string, string>, headers: Record<string, string> = {}) {
    const url = `${base.replace(/^http/, 'ws')}/ws?${new URLSearchParams(query)}`;
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const { type, metadata, image } = decodePreviewFrame(new Uint8Array(data));
        this.got.previews.push({ type, metadata, image: Buffer.from(image) });
      } else {
        this.got.messages.push(JSON.parse(data.toString()) as ServerMessage);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Messages of one prompt (status messages excluded). */
  of(promptId: string): ServerMessage[] {
    return this.got.messages.filter((m) => m.type !== 'status' && (m.data as { promptId?: string }).promptId === promptId);
  }

  async waitFor(predicate: (got: Received) => boolean, what = 'a message', ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this.got)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.got.messages.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** Resolves once the prompt has ended (success, error or interrupted). */
  ended(promptId: string): Promise<void> {
    const ends = ['execution_success', 'execution_error', 'execution_interrupted'];
    return this.waitFor(() => this.of(promptId).some((m) => ends.includes(m.type)), `the end of ${promptId}`);
  }

  close(): void {
    this.ws.close();
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = unknown>(): T;
}

/** A raw HTTP request: the path is sent exactly as given (no `..` normalisation), unlike fetch. */
export function raw(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body.toString()) as T });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export async function postJson<T = unknown>(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

export async function getJson<T = unknown>(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls until the prompt has left the queue; resolves to its history entry. */
export async function settled<T = { status: string }>(base: string, promptId: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await getJson<{ status: string }>(base, `/api/history/${promptId}`);
    if (r.status === 200 && !['queued', 'running'].includes(r.body.status)) return r.body as T;
    if (Date.now() > deadline) throw new Error(`prompt ${promptId} did not finish: ${JSON.stringify(r.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
