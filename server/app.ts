// Owns the HTTP surface: createApp() wires the store, worker, hub and REST routes into an express app (no listen).

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { WebSocketServer } from 'ws';
import { Executor, NodeRegistry, packageRoot, WorkflowValidationError, type Logger, type NodeServices } from '../engine/index.js';
import {
  ExtractRequestSchema,
  InterruptRequestSchema,
  PREVIEW_FORMATS,
  PROTOCOL_VERSION,
  PromptRequestSchema,
  ValidateRequestSchema,
  type DeleteQueuedResponse,
  type HistoryList,
  type ModelsResponse,
  type PreviewFormat,
  type PromptResponse,
  type SystemInfo,
  type ValidateResponse,
} from '../protocol/index.js';
import { listModels } from '../models/package.js';
import { availableDevices } from '../models/runtime/onnx.js';
import { createRegistry } from '../nodes/index.js';
import { createModelHost } from '../nodes/services.js';
import { checkBody, intQuery } from './body.js';
import { BadRequestError, errorHandler, errorResponse, NotFoundError } from './errors.js';
import { Hub } from './hub.js';
import { EmbeddedQueue, type PromptQueue } from './queue.js';
import { RedisQueue, seededWorkflow, splitParam } from './redis/queue.js';
import { resolveInside } from './paths.js';
import { checkAccess, TOKEN_COOKIE } from './security.js';
import { Store } from './store.js';
import { listUploads, receiveUpload } from './uploads.js';
import { installSamples } from './samples.js';
import { serveEditor } from './static.js';
import { LocalRunner } from './local-runner.js';
import { extractEmbedded, WorkflowLibrary } from './workflows.js';

export interface AppOptions {
  /** Holds `skyloom.db`, `output/`, `uploads/`, `workflows/` and `tmp/`. */
  dataDir: string;
  /** The nodes prompts may use; default every built-in node. */
  registry?: NodeRegistry;
  /** When set, every request and the WebSocket must carry it. */
  token?: string;
  /** The address the server is bound to (default 127.0.0.1); on loopback only loopback Host names are answered. */
  host?: string;
  /** Origins besides the server's own that may use it (the editor's dev server); default none. */
  allowedOrigins?: readonly string[];
  /** What the host gives every node (device policy, session cache, model search paths). */
  services?: NodeServices;
  log?: Logger;
  /** Default 512 MiB. */
  maxUploadBytes?: number;
  /** Largest JSON body (a workflow); default 8 MiB. */
  maxJsonBytes?: number;
  /** At most one preview per client per window; default 250 ms. */
  previewIntervalMs?: number;
  /** The editor's built files, served at `/` when the folder exists; default `<package>/editor/dist`. */
  editorDir?: string;
  /** Output cache budget of the executor, in bytes. */
  cacheBytes?: number;
  /**
   * `redis://host:port`: prompts go on BullMQ queues for `skyloom worker` processes that share
   * this data dir; default the embedded SQLite queue with one worker inside the server.
   */
  queue?: string;
}

/** What createApp returns: the express app plus the parts tests and `serve` drive. */
export interface SkyloomApp {
  app: Express;
  store: Store;
  queue: PromptQueue;
  /** The in-process worker; absent with a queue engine (workers are other processes). */
  worker?: LocalRunner;
  /** Resolves once the queue delivers prompts; rejects when the queue engine is unreachable. */
  ready: Promise<void>;
  hub: Hub;
  executor: Executor;
  dirs: { data: string; output: string; uploads: string; workflows: string; temp: string };
  /** Serves the WebSocket endpoint `/ws` on an HTTP server that serves `app`. */
  attach(server: Server): void;
  /** Stops the worker (interrupting the running prompt), closes the sockets and the database. */
  close(): Promise<void>;
}

const consoleLog: Logger = {
  debug() {},
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warn: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
};

/** Express 5 rejects a thrown error from an async handler into `next`; this only narrows the types. */
type Handler = (req: Request, res: Response, next: NextFunction) => Promise<unknown> | unknown;

/**
 * Builds the server without listening: open the store (marking prompts a dead process left
 * running as failed), start the worker on what is still queued, and mount the routes.
 * @throws the SQLite error when the database cannot be opened
 */
export function createApp(options: AppOptions): SkyloomApp {
  const log = options.log ?? consoleLog;
  const data = resolve(options.dataDir);
  const dirs = {
    data,
    output: join(data, 'output'),
    uploads: join(data, 'uploads'),
    workflows: join(data, 'workflows'),
    temp: join(data, 'tmp'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  // The shipped templates name their inputs as workflows/assets/…; installed here, they run unchanged.
  installSamples(dirs.uploads);
  const registry = options.registry ?? createRegistry();
  const policy = { token: options.token, host: options.host ?? '127.0.0.1', origins: options.allowedOrigins ?? [] };
  const maxUpload = options.maxUploadBytes ?? 512 * 1024 * 1024;

  const remote = options.queue !== undefined;
  const store = new Store(join(data, 'skyloom.db'), Date.now, { recoverRunning: !remote });
  for (const id of store.recovered) log.warn(`prompt ${id} was running when the server stopped; marked failed`);
  const executor = new Executor(registry, {
    outputDir: dirs.output,
    // Workflows from clients read only what was uploaded, never arbitrary server files.
    inputDir: dirs.uploads,
    confineInputs: true,
    tempDir: dirs.temp,
    log,
    services: options.services ?? { models: createModelHost() },
    ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
  });
  const hub = new Hub({ log, ...(options.previewIntervalMs !== undefined ? { previewIntervalMs: options.previewIntervalMs } : {}) });
  const worker = remote ? undefined : new LocalRunner(store, executor, hub, { outputDir: dirs.output, log });
  const queue: PromptQueue = worker
    ? new EmbeddedQueue(store, worker)
    : new RedisQueue({ url: options.queue!, store, hub, outputDir: dirs.output, log, registry });
  // With workers elsewhere, what is installed is theirs to say (capability routing by each node's
  // `requires`); the server checks everything else about a workflow.
  const validator = remote ? new Executor(withoutHostChecks(registry)) : executor;
  const library = new WorkflowLibrary(dirs.workflows);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const { tokenFromQuery } = checkAccess(policy, req.headers, req.originalUrl);
    if (tokenFromQuery && options.token) {
      res.cookie(TOKEN_COOKIE, options.token, { httpOnly: true, sameSite: 'strict', path: '/' });
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  const api = express.Router();
  api.use(express.json({ limit: options.maxJsonBytes ?? 8 * 1024 * 1024 }));
  const route = (fn: Handler) => fn;

  api.get('/nodes', route((_req, res) => res.json(registry.catalog())));

  api.get('/models', route(async (_req, res) => {
    const out: ModelsResponse = { models: await listModels() };
    res.json(out);
  }));

  api.get('/system', route(async (_req, res) => {
    const info: SystemInfo = {
      versions: { skyloom: packageVersion(), node: process.version, protocol: PROTOCOL_VERSION },
      device: { platform: process.platform, arch: process.arch, cpus: cpus().length, totalMemory: totalmem(), devices: availableDevices() },
      queue: queue.counts(),
      queueEngine: queue.engine,
    };
    if (queue.engine === 'redis') info.workers = await queue.workers();
    res.json(info);
  }));

  api.post('/prompt', route(async (req, res) => {
    const body = checkBody(PromptRequestSchema, req.body);
    // Validated now so the client hears every problem at once; the worker validates again when it
    // runs it, since a restart may bring other node packs.
    const validated = await validator.validate(body.workflow);
    if (body.seeds) {
      // Each seed's workflow must be valid too (the value in the param's range), before any is queued.
      const { nodeId, name } = splitParam(body.seeds.param, validated.workflow);
      for (const seed of new Set(body.seeds.values)) await validator.validate(seededWorkflow(validated.workflow, nodeId, name, seed));
    }
    const out: PromptResponse = await queue.enqueue(randomUUID(), validated.workflow, body.clientId ?? null, body.seeds);
    res.json(out);
  }));

  // A dry run of POST /prompt's checks: the answer is 200 either way, since the request was fine.
  api.post('/validate', route(async (req, res) => {
    const body = checkBody(ValidateRequestSchema, req.body);
    let out: ValidateResponse;
    try {
      const validated = await validator.validate(body.workflow);
      out = { valid: true, workflow: validated.workflow, ...(validated.warnings.length > 0 ? { warnings: validated.warnings } : {}) };
    } catch (error) {
      if (!(error instanceof WorkflowValidationError)) throw error;
      out = { valid: false, issues: error.issues };
    }
    res.json(out);
  }));

  api.get('/queue', route((_req, res) => res.json(queue.queue())));

  api.delete('/queue/:promptId', route(async (req, res) => {
    const promptId = String(req.params.promptId);
    await queue.remove(promptId);
    const out: DeleteQueuedResponse = { deleted: true, promptId };
    res.json(out);
  }));

  api.post('/interrupt', route(async (req, res) => {
    const body = checkBody(InterruptRequestSchema, req.body ?? {});
    res.json(await queue.interrupt(body.promptId));
  }));

  api.get('/history', route((req, res) => {
    const limit = intQuery(req.query.limit, 'limit', 50, 1000);
    const offset = intQuery(req.query.offset, 'offset', 0, 1e9);
    const out: HistoryList = { ...queue.history(limit, offset), limit, offset };
    res.json(out);
  }));

  api.get('/history/:promptId', route((req, res) => {
    const entry = queue.get(String(req.params.promptId));
    if (!entry) throw new NotFoundError(`No prompt ${String(req.params.promptId)}`);
    res.json(entry);
  }));

  // Range requests (206, Content-Range) come from `send`, which sendFile uses; the path is
  // confined first, so `send` only ever sees a real file inside the folder.
  const serveInside = (root: string) =>
    route(async (req, res, next) => {
      const file = await resolveInside(root, req.params.splat as unknown as string[]);
      res.sendFile(file, { dotfiles: 'allow', acceptRanges: true, headers: { 'Cache-Control': 'no-cache' } }, (error) => {
        if (error && !res.headersSent) next(error);
      });
    });
  api.get('/outputs/*splat', serveInside(dirs.output));
  api.get('/uploads', route(async (_req, res) => res.json(await listUploads(dirs.uploads))));
  api.get('/uploads/*splat', serveInside(dirs.uploads));

  api.post('/uploads', route(async (req, res) => {
    const out = await receiveUpload(req, dirs.uploads, maxUpload);
    res.status(out.created ? 201 : 200).json(out);
  }));

  api.get('/workflows', route(async (_req, res) => res.json(await library.list())));
  api.post('/workflows/extract', route(async (req, res) => {
    const body = checkBody(ExtractRequestSchema, req.body);
    const [root, rel] = body.output !== undefined ? [dirs.output, body.output] : [dirs.uploads, body.upload!];
    const file = await resolveInside(root, rel.split('/'));
    res.json(await extractEmbedded(file));
  }));
  api.get('/workflows/:name', route(async (req, res) => res.json(await library.get(String(req.params.name)))));
  api.put('/workflows/:name', route(async (req, res) => {
    if (req.body === undefined) throw new BadRequestError('invalid_body', 'Send the workflow as JSON with Content-Type: application/json');
    const { created } = await library.put(String(req.params.name), req.body);
    res.status(created ? 201 : 200).json({ name: String(req.params.name), created });
  }));
  api.delete('/workflows/:name', route(async (req, res) => {
    await library.delete(String(req.params.name));
    res.json({ name: String(req.params.name), deleted: true });
  }));

  api.use(route((req) => {
    throw new NotFoundError(`No route ${req.method} ${req.baseUrl}${req.path}`);
  }));
  app.use('/api', api);

  const editorDir = options.editorDir ?? join(packageRoot(), 'editor', 'dist');
  if (existsSync(editorDir)) {
    app.use(serveEditor(editorDir));
  }
  app.use(errorHandler((m) => log.error(m)));

  let wss: WebSocketServer | undefined;
  const attach = (server: Server) => {
    wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://x');
      try {
        if (url.pathname !== '/ws') throw new NotFoundError(`No WebSocket endpoint at ${url.pathname}; use /ws`);
        checkAccess(policy, req.headers, req.url ?? '/');
        const format = (url.searchParams.get('preview') ?? 'webp') as PreviewFormat;
        if (!PREVIEW_FORMATS.includes(format)) throw new BadRequestError('invalid_query', `preview must be one of ${PREVIEW_FORMATS.join(', ')}`);
        const clientId = url.searchParams.get('clientId') || randomUUID();
        if (clientId.length > 128) throw new BadRequestError('invalid_query', 'clientId is at most 128 characters');
        wss!.handleUpgrade(req, socket, head, (ws) => {
          hub.add(ws, clientId, format);
          // Clients only listen; a message from one is ignored rather than parsed.
          ws.on('error', () => ws.terminate());
          const { pending, running } = queue.counts();
          ws.send(JSON.stringify({ type: 'status', data: { queueRemaining: pending + running, running: queue.running(), sid: clientId } }));
        });
      } catch (error) {
        const { status, body } = errorResponse(error);
        const text = JSON.stringify(body);
        socket.end(
          `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Bad Request'}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
        );
      }
    });
  };

  const ready = queue.start();
  // Callers that never await `ready` (tests of the embedded queue) must not see an unhandled rejection.
  ready.catch(() => undefined);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await ready.catch(() => undefined);
      await queue.close();
      hub.close();
      wss?.close();
      store.close();
    })());

  return { app, store, queue, ...(worker ? { worker } : {}), ready, hub, executor, dirs, attach, close };
}

/** The same nodes, less the checks of nodes that declare host requirements (queue engine: the workers meet them). */
function withoutHostChecks(registry: NodeRegistry): NodeRegistry {
  const copy = new NodeRegistry();
  for (const type of registry.types()) {
    const d = registry.get(type)!;
    copy.register(d.requires ? { ...d, check: undefined } : d);
  }
  return copy;
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
