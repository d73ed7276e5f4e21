// Owns building one server: createApp() opens the store, starts the queue and mounts the route modules of server/routes/ (no listen).

import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Server } from 'node:http';
import { basename, join, relative, resolve } from 'node:path';
import express, { type Express, type Request } from 'express';
import type { WebSocketServer } from 'ws';
import { defaultLimits, Executor, NodeRegistry, packageRoot, type AdmissionLimits, type Logger, type NodeServices } from '../engine/index.js';
import { createRegistry } from '../nodes/index.js';
import { createModelHost } from '../nodes/services.js';
import { checkJsonDepth } from './body.js';
import { BadRequestError, errorHandler, NotFoundError } from './errors.js';
import { Hub } from './hub.js';
import { EmbeddedQueue, type PromptQueue } from './queue.js';
import { RedisQueue } from './redis/queue.js';
import type { RouteContext } from './routes/context.js';
import { historyRoutes } from './routes/history.js';
import { modelRoutes } from './routes/models.js';
import { outputRoutes } from './routes/outputs.js';
import { promptRoutes } from './routes/prompt.js';
import { queueRoutes } from './routes/queue.js';
import { systemRoutes } from './routes/system.js';
import { uploadRoutes } from './routes/uploads.js';
import { workflowRoutes } from './routes/workflows.js';
import { attachWebSocket } from './routes/ws.js';
import { checkAccess, checkToken, TOKEN_COOKIE } from './security.js';
import { installSamples } from './samples.js';
import { serveEditor } from './static.js';
import { Store } from './store.js';
import { LocalRunner } from './local-runner.js';
import { WorkflowLibrary } from './workflows.js';

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
  /** Largest JSON body (a workflow); default 2 MiB. */
  maxJsonBytes?: number;
  /**
   * Admission limits a prompt's estimated cost is checked against before it is queued; each
   * missing one takes its default for this machine (engine/admission.ts defaultLimits: memory from
   * the RAM, temp disk from the free space under the data dir when the prompt arrives).
   */
  limits?: Partial<AdmissionLimits>;
  /** At most one preview per client per window; default 250 ms. */
  previewIntervalMs?: number;
  /** The editor's built files, served at `/` when the folder exists; default `<package>/editor/dist`. */
  editorDir?: string;
  /** A corrupt or emptied database is moved aside and rebuilt from what can be read, instead of refusing to start. */
  repair?: boolean;
  /** Let API clients name a model by folder path (load-model); default package names from the search paths only. */
  allowModelPaths?: boolean;
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

/**
 * Builds the server without listening: open the store (marking prompts a dead process left
 * running as failed), start the worker on what is still queued, and mount the routes.
 * @throws EngineError `weak_token` for a token under 16 characters
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
  checkToken(options.token);
  // The shipped templates name their inputs as workflows/assets/…; installed here, they run unchanged.
  installSamples(dirs.uploads);
  const registry = options.registry ?? createRegistry();
  const policy = { token: options.token, host: options.host ?? '127.0.0.1', origins: options.allowedOrigins ?? [] };
  const maxUpload = options.maxUploadBytes ?? 512 * 1024 * 1024;

  const remote = options.queue !== undefined;
  const store = new Store(join(data, 'skyloom.db'), Date.now, { recoverRunning: !remote, repair: options.repair === true });
  if (store.repairedFrom) log.warn(`the database was unusable; it was moved to ${store.repairedFrom} and a new one made with every prompt that could be read`);
  for (const id of store.recovered) log.warn(`prompt ${id} was running when the server stopped; marked failed`);
  // Nothing runs yet: what unfinished writes left behind goes. With a queue engine, workers may be
  // writing into output/ now, so only the server's own folders are swept.
  for (const file of sweepUnfinished(remote ? [dirs.uploads, dirs.workflows] : [dirs.output, dirs.uploads, dirs.workflows]))
    log.warn(`removed ${file}, left by an unfinished write`);
  const executor = new Executor(registry, {
    outputDir: dirs.output,
    // Workflows from clients read only what was uploaded, never arbitrary server files.
    inputDir: dirs.uploads,
    confineInputs: true,
    confinePaths: options.allowModelPaths !== true,
    tempDir: dirs.temp,
    log,
    services: options.services ?? { models: createModelHost() },
    ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
  });
  const hub = new Hub({ log, ...(options.previewIntervalMs !== undefined ? { previewIntervalMs: options.previewIntervalMs } : {}) });
  const worker = remote ? undefined : new LocalRunner(store, executor, hub, { outputDir: dirs.output, log });
  const queue: PromptQueue = worker ? new EmbeddedQueue(store, worker) : new RedisQueue({ url: options.queue!, store, hub, outputDir: dirs.output, log, registry });
  // With workers elsewhere, what is installed is theirs to say (capability routing by each node's
  // `requires`); the server checks everything else about a workflow.
  const validator = remote ? new Executor(withoutHostChecks(registry), { confinePaths: options.allowModelPaths !== true, localModels: false }) : executor;
  const library = new WorkflowLibrary(dirs.workflows);

  const limits = (): AdmissionLimits => ({ ...defaultLimits(totalmem(), freeBytes(dirs.temp)), ...options.limits });
  const ctx: RouteContext = { registry, store, queue, executor, validator, hub, library, dirs, policy, maxUploadBytes: maxUpload, limits, log };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const { tokenFromQuery } = checkAccess(policy, req.headers, req.originalUrl);
    // A malformed escape (%ff, an overlong %c0%ae) would surface later as a URIError from some decoder.
    try {
      decodeURIComponent(req.path);
    } catch {
      throw new BadRequestError('bad_url', 'The URL holds a malformed percent-encoding (each %XX must form UTF-8)');
    }
    if (tokenFromQuery && options.token) {
      res.cookie(TOKEN_COOKIE, options.token, { httpOnly: true, sameSite: 'strict', path: '/' });
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  const api = express.Router();
  api.use(express.json({ limit: options.maxJsonBytes ?? 2 * 1024 * 1024, verify: (_req, _res, buf) => checkJsonDepth(buf) }));
  for (const routes of [modelRoutes, systemRoutes, promptRoutes, queueRoutes, historyRoutes, outputRoutes, uploadRoutes, workflowRoutes]) {
    api.use(routes(ctx));
  }
  api.use((req: Request) => {
    throw new NotFoundError(`No route ${req.method} ${req.baseUrl}${req.path}`);
  });
  app.use('/api', api);

  const editorDir = options.editorDir ?? join(packageRoot(), 'editor', 'dist');
  if (existsSync(editorDir)) {
    app.use(serveEditor(editorDir));
  }
  app.use(errorHandler((m) => log.error(m)));

  let wss: WebSocketServer | undefined;
  const attach = (server: Server) => {
    wss = attachWebSocket(server, ctx);
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

/** Free bytes for this process on the file system holding `dir`. */
function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * The same nodes; those that declare host requirements are checked as on a host without their
 * models (queue engine: the workers meet them), which still refuses what a remote client may not name.
 */
function withoutHostChecks(registry: NodeRegistry): NodeRegistry {
  const copy = new NodeRegistry();
  for (const type of registry.types()) {
    const d = registry.get(type)!;
    const check = d.check;
    copy.register(d.requires && check ? { ...d, check: (params, env) => check(params, { ...env, localModels: false }) } : d);
  }
  return copy;
}

/**
 * Removes `*.partial` files (and the uploads' `.partial/` folder contents) and 0-byte files — an
 * output name claimed by a prompt that never finished — from the given folders.
 * @returns the files removed, relative to their folder
 */
function sweepUnfinished(roots: string[]): string[] {
  const removed: string[] = [];
  for (const root of roots) {
    for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      const partial = entry.name.endsWith('.partial') || basename(entry.parentPath) === '.partial';
      if (!partial && (entry.name.startsWith('.skyloom-') || statSync(file).size > 0)) continue;
      rmSync(file, { force: true });
      removed.push(relative(root, file));
    }
  }
  return removed;
}
