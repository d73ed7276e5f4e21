// Owns the queue engine mode: prompts on BullMQ queues in Redis, routed by capability, with results and events fed back into the server's store and hub (the keys and messages are in wire.ts).

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger, NodeRegistry, Preview, Workflow } from '../../engine/index.js';
import type { HistoryEntry, InterruptResponse, PromptError, PromptResponse, QueueResponse, UiOutputRef, WorkerAnnouncement } from '../../protocol/index.js';
import { BadRequestError, QueueUnavailableError } from '../errors.js';
import type { Hub } from '../hub.js';
import { notRemovable, type PromptQueue, type SeedFanOut } from '../queue.js';
import type { HistoryQuery, SeedRun, Store } from '../store.js';
import {
  canRun,
  connect,
  readRecorded,
  GENERIC_ROUTE,
  JOB_OPTIONS,
  KEYS,
  PREFIX,
  liveWorkers,
  OUTPUT_ID_FILE,
  redisOptions,
  requirementsOf,
  routeName,
  STALL_RETRIES,
  type JobData,
  type JobResult,
  unpackPreview,
  type WorkerEnvelope,
} from './wire.js';

export interface RedisQueueOptions {
  url: string;
  store: Store;
  hub: Hub;
  outputDir: string;
  log: Logger;
  /** The nodes prompts may use: their `requires` route each prompt to workers that can run it. */
  registry: NodeRegistry;
  /** How often waiting prompts are checked against the live workers; default 2000 ms. */
  sweepMs?: number;
}

interface Route {
  queue: Queue<JobData, JobResult>;
  events: QueueEvents;
}

/**
 * Prompts on BullMQ queues; `skyloom worker` processes run them. The server keeps the history
 * (SQLite), routes each prompt to the queue of its requirements, forwards worker events to the
 * client that queued the prompt, and fails prompts that no live worker can run.
 */
export class RedisQueue implements PromptQueue {
  readonly engine = 'redis' as const;
  readonly #o: RedisQueueOptions;
  readonly #store: Store;
  readonly #hub: Hub;
  readonly #connection: ConnectionOptions;
  readonly #routes = new Map<string, Route>();
  #redis?: Redis;
  #sub?: Redis;
  #outputId = '';
  #sweeper?: NodeJS.Timeout;
  readonly #adding = new Set<string>();
  #closed = false;

  constructor(options: RedisQueueOptions) {
    this.#o = options;
    this.#store = options.store;
    this.#hub = options.hub;
    this.#connection = redisOptions(options.url);
  }

  /**
   * Connects, names the output folder, listens to workers, and reconciles the store with Redis.
   * @throws QueueConnectionError when Redis does not answer
   */
  async start(): Promise<void> {
    this.#redis = await connect(this.#o.url);
    this.#sub = await connect(this.#o.url);
    const idFile = join(this.#o.outputDir, OUTPUT_ID_FILE);
    if (!existsSync(idFile)) writeFileSync(idFile, `${randomUUID()}\n`);
    this.#outputId = readFileSync(idFile, 'utf8').trim();
    await this.#redis.set(KEYS.outputId, this.#outputId);

    this.#sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#onWorkerMessage(message));
    await this.#sub.subscribe(KEYS.events);

    for (const name of Object.keys(await this.#redis.hgetall(KEYS.routes))) this.#route(name);
    this.#route(GENERIC_ROUTE);
    await this.#reconcile();
    this.#sweeper = setInterval(() => void this.#sweep().catch((e: Error) => this.#o.log.warn(`queue sweep: ${e.message}`)), this.#o.sweepMs ?? 2000);
    this.#sweeper.unref();
  }

  async enqueue(promptId: string, workflow: Workflow, clientId: string | null, seeds?: SeedFanOut, key?: string): Promise<PromptResponse> {
    // Fail fast: a client waiting on a Redis that is down would time out, retry, and run it twice.
    if (this.#redis?.status !== 'ready') throw unavailable(this.#o.url);
    const requires = requirementsOf(workflow, this.#o.registry);
    const split = seeds ? splitParam(seeds.param, workflow) : undefined;
    // Until its job is in Redis, a queued row has no job to reconcile against: not "lost".
    this.#adding.add(promptId);
    try {
      return await this.#enqueue(promptId, workflow, clientId, requires, seeds && split ? { ...seeds, ...split } : undefined, key);
    } finally {
      this.#adding.delete(promptId);
    }
  }

  async #enqueue(
    promptId: string,
    workflow: Workflow,
    clientId: string | null,
    requires: string[],
    seeds: (SeedFanOut & { nodeId: string; name: string }) | undefined,
    key: string | undefined,
  ): Promise<PromptResponse> {
    const { number } = this.#store.enqueue(promptId, workflow, clientId, Date.now(), key);
    let handedOver = false;
    try {
      return await this.#handOver(promptId, number, workflow, clientId, requires, seeds, () => (handedOver = true));
    } catch (error) {
      // Refused before BullMQ was asked (the queue connection does not buffer commands while Redis
      // is away): as if never sent. A hand-over that timed out may still land; the row stays, the
      // reconciler records how it ends, and a retry with the same key gets it.
      if (!handedOver) this.#store.forget(promptId);
      this.#o.log.warn(`prompt ${promptId} not queued: ${(error as Error).message}`);
      throw handedOver
        ? new QueueUnavailableError(`Redis did not confirm prompt ${promptId} in time; it may still run. Retry with the same Idempotency-Key to get it rather than a second run.`)
        : unavailable(this.#o.url);
    }
  }

  async #handOver(
    promptId: string,
    number: number,
    workflow: Workflow,
    clientId: string | null,
    requires: string[],
    seeds: (SeedFanOut & { nodeId: string; name: string }) | undefined,
    adding: () => void,
  ): Promise<PromptResponse> {
    const workers = await within(liveWorkers(this.#redis!));
    if (workers.length > 0 && !workers.some((w) => canRun(w.capabilities, requires))) {
      // With no worker at all, prompts wait for one to start; with workers that all lack what it
      // needs, it would wait forever.
      this.#fail(promptId, clientId, noCapableWorker(requires, workers));
      return { promptId, number };
    }
    const route = this.#route(routeName(requires));
    await within(this.#redis!.hset(KEYS.routes, routeName(requires), JSON.stringify(requires)));
    const base = { clientId, requires, outputId: this.#outputId };
    if (seeds) {
      const { nodeId, name: param } = seeds;
      const runs: SeedRun[] = seeds.values.map((seed, i) => ({ seed, promptId: `${promptId}-seed-${i}`, status: 'queued' }));
      this.#store.setSeeds(promptId, runs);
      adding();
      await within(
        route.queue.addBulk(
          runs.map((r, i) => ({
            name: 'prompt',
            data: { ...base, promptId: r.promptId, parent: promptId, seedIndex: i, workflow: seededWorkflow(workflow, nodeId, param, r.seed) },
            opts: { jobId: r.promptId, ...JOB_OPTIONS },
          })),
        ),
      );
    } else {
      adding();
      await within(route.queue.add('prompt', { ...base, promptId, workflow }, { jobId: promptId, ...JOB_OPTIONS }));
    }
    void this.#redis!.publish(KEYS.wake, routeName(requires)).catch(() => undefined);
    this.broadcastStatus();
    return { promptId, number };
  }

  queue(): QueueResponse {
    return this.#store.queue();
  }

  counts(): { running: number; pending: number } {
    return this.#store.counts();
  }

  running(): string | null {
    return this.#store.queue().running[0]?.promptId ?? null;
  }

  async remove(promptId: string): Promise<void> {
    if (this.#store.status(promptId) !== 'queued') notRemovable(this.#store, promptId);
    const ids = this.#jobIds(promptId);
    const removed: string[] = [];
    for (const id of ids) {
      const job = await this.#findJob(id);
      try {
        await job?.remove();
        removed.push(id);
      } catch {
        // BullMQ refuses to remove a job a worker holds the lock of: it started meanwhile. Seeds
        // already taken off are cancelled, so the fan-out still ends.
        for (const r of removed) if (r !== promptId) this.#updateSeed(promptId, r, { status: 'cancelled' });
        notRemovable(this.#store, promptId);
      }
    }
    if (!this.#store.cancelQueued(promptId)) notRemovable(this.#store, promptId);
    this.broadcastStatus();
  }

  async interrupt(promptId?: string): Promise<InterruptResponse> {
    const running = this.#store.queue().running.map((r) => r.promptId);
    const targets = promptId === undefined ? running : running.filter((id) => id === promptId);
    if (targets.length === 0) return { interrupted: false, promptId: null };
    const jobIds = targets.flatMap((id) => this.#jobIds(id));
    await this.#redis!.publish(KEYS.control, JSON.stringify({ type: 'interrupt', promptIds: jobIds }));
    return { interrupted: true, promptId: targets[0]! };
  }

  get(promptId: string): HistoryEntry | undefined {
    return this.#store.get(promptId);
  }

  history(query: HistoryQuery): { items: HistoryEntry[]; total: number } {
    return this.#store.history(query);
  }

  workers(): Promise<WorkerAnnouncement[]> {
    return liveWorkers(this.#redis!);
  }

  broadcastStatus(): void {
    this.#hub.broadcastStatus(() => {
      if (this.#closed) return undefined;
      const { pending, running } = this.#store.counts();
      return { queueRemaining: pending + running, running: this.running() };
    });
  }

  /** Stops listening; prompts keep running on the workers and are reconciled at the next start. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    await Promise.all([...this.#routes.values()].flatMap((r) => [r.events.close(), r.queue.close()]));
    this.#sub?.disconnect();
    await this.#redis?.quit().catch(() => undefined);
  }

  #route(name: string): Route {
    let route = this.#routes.get(name);
    if (route) return route;
    // Producer commands fail at once while Redis is away instead of waiting in ioredis' buffer, so
    // POST /prompt can answer 503 and nothing it refused is sent later behind the client's back.
    const queue = new Queue<JobData, JobResult>(name, { connection: { ...redisOptions(this.#o.url), enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: PREFIX });
    const events = new QueueEvents(name, { connection: this.#connection, prefix: PREFIX });
    queue.on('error', (e) => this.#o.log.warn(`queue ${name}: ${e.message}`));
    events.on('error', (e) => this.#o.log.warn(`queue events ${name}: ${e.message}`));
    events.on('completed', ({ jobId, returnvalue }) => this.#finished(jobId, returnvalue as unknown as JobResult));
    events.on('failed', ({ jobId, failedReason }) => this.#finished(jobId, lostResult(failedReason)));
    route = { queue, events };
    this.#routes.set(name, route);
    return route;
  }

  #onWorkerMessage(message: Buffer): void {
    try {
      if (message[0] === 0x50) {
        const { meta, data } = unpackPreview(message);
        const preview: Preview = { format: 'rgb24', width: meta.width, height: meta.height, frameCount: meta.frameCount, data, ...(meta.fps ? { fps: meta.fps } : {}) };
        this.#hub.preview(meta.clientId, { promptId: meta.promptId, nodeId: meta.nodeId, step: meta.step, total: meta.total, preview });
        return;
      }
      const envelope = JSON.parse(message.subarray(1).toString()) as WorkerEnvelope;
      if (envelope.kind === 'message') {
        this.#hub.send(envelope.clientId, envelope.message);
      } else {
        this.#started(envelope.promptId, envelope.worker, envelope.parent);
      }
    } catch (error) {
      this.#o.log.warn(`bad message from a worker: ${(error as Error).message}`);
    }
  }

  #started(jobId: string, worker: string, parent?: string): void {
    if (parent) {
      this.#store.markRunning(parent, null);
      this.#updateSeed(parent, jobId, { status: 'running', worker });
    } else {
      this.#store.markRunning(jobId, worker);
    }
    this.broadcastStatus();
  }

  /** Records a job's end; idempotent, since completion is heard both live and when reconciling. */
  #finished(jobId: string, result: JobResult): void {
    const parent = /^(.*)-seed-\d+$/.exec(jobId)?.[1];
    if (parent && this.#store.get(parent)?.seeds) {
      this.#updateSeed(parent, jobId, { status: result.status, worker: result.worker }, result);
    } else {
      this.#store.record(jobId, result);
    }
    this.broadcastStatus();
  }

  #seedResults = new Map<string, JobResult>();

  #updateSeed(parent: string, jobId: string, change: Partial<SeedRun>, result?: JobResult): void {
    const entry = this.#store.get(parent);
    if (!entry?.seeds || !['queued', 'running'].includes(entry.status)) return;
    const seeds = entry.seeds.map((s) => (s.promptId === jobId && ['queued', 'running'].includes(s.status) ? { ...s, ...change } : s));
    this.#store.setSeeds(parent, seeds as SeedRun[]);
    if (result) this.#seedResults.set(jobId, result);
    if (seeds.every((s) => !['queued', 'running'].includes(s.status))) void this.#collect(parent, seeds as SeedRun[]);
  }

  /** All seeds ended: one history entry with every seed's outputs under `<nodeId>@<seed>`. */
  async #collect(parent: string, seeds: SeedRun[]): Promise<void> {
    const outputs: Record<string, UiOutputRef> = {};
    const executed = new Set<string>();
    let ms = 0;
    let error: PromptError | undefined;
    for (const s of seeds) {
      const r = this.#seedResults.get(s.promptId) ?? (await this.#jobResult(s.promptId));
      this.#seedResults.delete(s.promptId);
      if (!r) continue;
      for (const [id, ui] of Object.entries(r.outputs ?? {})) outputs[`${id}@${s.seed}`] = ui;
      for (const id of r.executed ?? []) executed.add(id);
      ms += r.ms ?? 0;
      if (r.error && !error) error = { ...r.error, message: `seed ${s.seed}: ${r.error.message}` };
    }
    const status = seeds.every((s) => s.status === 'success') ? 'success' : seeds.some((s) => s.status === 'error') ? 'error' : 'interrupted';
    this.#store.record(parent, { status, ms, executed: [...executed], outputs, ...(error ? { error } : {}) });
    this.broadcastStatus();
  }

  async #jobResult(jobId: string): Promise<JobResult | undefined> {
    const job = await this.#findJob(jobId);
    if (!job) return undefined;
    const state = await job.getState();
    if (state === 'completed') return job.returnvalue;
    if (state === 'failed') return lostResult(job.failedReason);
    return undefined;
  }

  async #findJob(jobId: string): Promise<Job<JobData, JobResult> | undefined> {
    for (const route of this.#routes.values()) {
      const job = await route.queue.getJob(jobId);
      if (job) return job;
    }
    return undefined;
  }

  #jobIds(promptId: string): string[] {
    const seeds = this.#store.get(promptId)?.seeds;
    return seeds ? seeds.map((s) => s.promptId) : [promptId];
  }

  /** After a restart: whatever finished (or vanished) while the server was away is recorded now. */
  async #reconcile(): Promise<void> {
    for (const p of this.#store.unfinished().slice(0, 500)) {
      if (this.#adding.has(p.promptId)) continue;
      for (const id of p.seeds ? p.seeds.filter((s) => ['queued', 'running'].includes(s.status)).map((s) => s.promptId) : [p.promptId]) {
        const job = await this.#findJob(id);
        if (!job) {
          // A worker records each result before telling Redis: a job Redis lost after it ran still ended as recorded.
          this.#finished(id, readRecorded(this.#o.outputDir, id) ?? lostResult('its job is no longer in Redis (Redis lost its data, or the job was removed)'));
          continue;
        }
        const state = await job.getState();
        if (state === 'completed') this.#finished(id, job.returnvalue);
        else if (state === 'failed') this.#finished(id, lostResult(job.failedReason));
        else if (state === 'active') this.#started(id, job.processedBy ?? 'unknown', job.data.parent);
      }
    }
  }

  /** Waiting prompts that no live worker can run (their worker left) fail instead of waiting forever. */
  async #sweep(): Promise<void> {
    // A completion can slip past QueueEvents (one that lands while the server starts listening,
    // or while Redis restarts); the jobs themselves are the record.
    await this.#reconcile();
    const workers = await liveWorkers(this.#redis!);
    if (workers.length === 0) return;
    const routes = await this.#redis!.hgetall(KEYS.routes);
    for (const [name, text] of Object.entries(routes)) {
      const requires = JSON.parse(text) as string[];
      if (workers.some((w) => canRun(w.capabilities, requires))) continue;
      const route = this.#route(name);
      for (const job of await route.queue.getJobs(['waiting', 'prioritized', 'delayed'])) {
        if (!job?.id) continue;
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        if (!removed) continue;
        const error = noCapableWorker(requires, workers);
        this.#finished(job.id, { status: 'error', error, worker: '' });
        const target = job.data.parent ?? job.data.promptId;
        this.#hub.send(job.data.clientId, { type: 'execution_error', data: { promptId: target, code: error.code, message: error.message, executed: [] } });
      }
    }
  }

  #fail(promptId: string, clientId: string | null, error: PromptError): void {
    this.#store.record(promptId, { status: 'error', error });
    this.#hub.send(clientId, { type: 'execution_error', data: { promptId, code: error.code, message: error.message, executed: [] } });
    this.broadcastStatus();
  }
}

/** How long POST /prompt waits on Redis before answering 503. */
const REDIS_ANSWER_MS = 3000;

function within<T>(promise: Promise<T>, ms = REDIS_ANSWER_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Redis did not answer in ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function unavailable(url: string): QueueUnavailableError {
  return new QueueUnavailableError(
    `The queue (Redis at ${new URL(url).host}) cannot take prompts now; nothing was queued. Retry after a few seconds, with the same Idempotency-Key.`,
  );
}

function noCapableWorker(requires: string[], workers: WorkerAnnouncement[]): PromptError {
  const have = workers.map((w) => `${w.id} (${w.capabilities.join(', ') || 'nothing'})`).join('; ');
  return {
    code: 'no_capable_worker',
    message: `No live worker can run this prompt: it needs ${requires.join(', ')}; workers: ${have}. Install the model on a worker (or start one that has it) and queue it again.`,
  };
}

function lostResult(reason: string): JobResult {
  const stalled = /stalled/i.test(reason);
  return {
    status: 'error',
    worker: '',
    error: stalled
      ? { code: 'worker_lost', message: `The worker running this prompt stopped, ${STALL_RETRIES + 1} times (${reason}); it was not finished.` }
      : { code: 'job_failed', message: reason },
  };
}

/**
 * Reads `nodeId.param` of a fan-out against the workflow.
 * @throws BadRequestError `invalid_seeds` when the node is not in it
 */
export function splitParam(param: string, workflow: Workflow): { nodeId: string; name: string } {
  const [nodeId, name] = param.split('.') as [string, string];
  if (!workflow.nodes.some((n) => n.id === nodeId)) throw new BadRequestError('invalid_seeds', `seeds.param names node "${nodeId}", which is not in the workflow`);
  return { nodeId, name };
}

/**
 * One seed's workflow: the param set, and every `filename_prefix` suffixed with the seed — the
 * seeds run at once on several workers, and their files must neither collide nor be confused.
 */
export function seededWorkflow(workflow: Workflow, nodeId: string, param: string, seed: number): Workflow {
  return {
    ...workflow,
    nodes: workflow.nodes.map((n) => {
      let params = n.params ?? {};
      if (n.id === nodeId) params = { ...params, [param]: seed };
      if (typeof params.filename_prefix === 'string') params = { ...params, filename_prefix: `${params.filename_prefix}-seed${seed}` };
      return params === (n.params ?? {}) ? n : { ...n, params };
    }),
  };
}
