// Owns a `skyloom worker` process: announces what it can run, pulls prompts from the BullMQ queues it qualifies for, runs them through one long-lived Executor, and reports back through Redis.

import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker as BullWorker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Cancelled, Executor, type Logger, type NodeRegistry } from '../../engine/index.js';
import type { WorkerAnnouncement } from '../../protocol/index.js';
import { listModels } from '../../models/package.js';
import { availableDevices } from '../../models/runtime/onnx.js';
import { createModelHost } from '../../nodes/services.js';
import {
  canRun,
  connect,
  DEFAULT_LOCK_MS,
  KEYS,
  OUTPUT_ID_FILE,
  OutputDirMismatchError,
  packJson,
  packPreview,
  readRecorded,
  recordedFile,
  writeRecorded,
  PREFIX,
  redisOptions,
  routeName,
  STALL_RETRIES,
  type JobData,
  type JobResult,
  type WorkerEnvelope,
} from './wire.js';
import { runPrompt } from '../local-runner.js';

export type WorkerDevice = 'auto' | 'cpu' | 'cuda';

export interface RemoteWorkerOptions {
  /** `redis://host:port[/db]` */
  url: string;
  /** The server's data dir, shared (same path or a mount): outputs go to `<dataDir>/output`, inputs come from `<dataDir>/uploads`. */
  dataDir: string;
  registry: NodeRegistry;
  device?: WorkerDevice;
  /** Prompts run at once in this process; default 1 (one GPU runs one prompt well). */
  concurrency?: number;
  /** Shown in history and `/api/system`; default `<host>-<pid>`. */
  id?: string;
  /** How long a job's lock lasts without renewal: a killed worker's job is retried after about this long. */
  lockMs?: number;
  /** The announcement lives this long without a refresh; default 10 s. */
  ttlMs?: number;
  /** At most one preview per prompt per window is published; default 200 ms. */
  previewIntervalMs?: number;
  log: Logger;
}

interface Running {
  controller: AbortController;
}

/**
 * One worker process. Jobs are fetched by hand (BullMQ's `getNextJob`) from every queue whose
 * requirements this worker meets — the most specific first — so `concurrency` bounds the prompts
 * running in the process however many queues it serves. The Executor lives as long as the
 * process: loaded models and cached node outputs carry over from one job to the next.
 */
export class RemoteWorker {
  readonly id: string;
  readonly #o: Required<Omit<RemoteWorkerOptions, 'id'>>;
  readonly #executor: Executor;
  readonly #outputDir: string;
  readonly #tempDir: string;
  readonly #bull = new Map<string, BullWorker<JobData, JobResult>>();
  readonly #running = new Map<string, Running>();
  #redis?: Redis;
  #pub?: Redis;
  #sub?: Redis;
  #capabilities: string[] = [];
  #startedAt = Date.now();
  #outputId = '';
  #stopping = false;
  #wake = new Set<() => void>();
  #loops: Promise<void>[] = [];
  #heartbeat?: NodeJS.Timeout;

  constructor(options: RemoteWorkerOptions) {
    this.id = options.id ?? `${hostname()}-${process.pid}`;
    this.#o = {
      device: 'auto',
      concurrency: 1,
      lockMs: DEFAULT_LOCK_MS,
      ttlMs: 10_000,
      previewIntervalMs: 200,
      ...options,
    };
    const data = resolve(options.dataDir);
    this.#outputDir = join(data, 'output');
    this.#tempDir = mkdtempSync(join(tmpdir(), 'skyloom-worker-'));
    mkdirSync(join(data, 'uploads'), { recursive: true });
    this.#executor = new Executor(options.registry, {
      outputDir: this.#outputDir,
      inputDir: join(data, 'uploads'),
      confineInputs: true,
      tempDir: this.#tempDir,
      log: options.log,
      // `--device cpu|cuda` pins every model-using node whose own device param is `auto`.
      services: { models: createModelHost({ device: this.#o.device }) },
    });
  }

  /** What this worker announces it can run. */
  get capabilities(): string[] {
    return this.#capabilities;
  }

  /**
   * Connects, checks the output folder is the server's, announces itself, and starts pulling.
   * @throws QueueConnectionError when Redis does not answer
   * @throws OutputDirMismatchError when `<dataDir>/output` is not the folder the server serves
   */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      // A worker that cannot start must not keep the process alive on its open connections.
      await this.stop(true);
      throw error;
    }
  }

  async #start(): Promise<void> {
    this.#redis = await connect(this.#o.url);
    this.#pub = await connect(this.#o.url);
    this.#sub = await connect(this.#o.url);
    await this.#checkOutputDir();
    await this.#discover();

    this.#sub.on('message', (channel: string, text: string) => {
      if (channel === KEYS.wake) for (const w of this.#wake) w();
      else if (channel === KEYS.control) this.#control(text);
    });
    await this.#sub.subscribe(KEYS.wake, KEYS.control);
    await this.#announce();
    this.#heartbeat = setInterval(() => void this.#announce(true).catch(() => undefined), Math.max(200, Math.floor(this.#o.ttlMs / 3)));
    this.#heartbeat.unref();
    this.#startedAt = Date.now();
    for (let slot = 0; slot < this.#o.concurrency; slot++) this.#loops.push(this.#loop());
  }

  /** The prompts this process runs now. */
  get running(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Stops taking jobs. Graceful: running prompts finish first. With `now`, they are abandoned —
   * their locks expire and another worker retries them, as after a crash.
   */
  async stop(now = false): Promise<void> {
    this.#stopping = true;
    for (const w of this.#wake) w();
    if (!now) await Promise.all(this.#loops);
    clearInterval(this.#heartbeat);
    await this.#redis?.hdel(KEYS.workers, this.id).catch(() => undefined);
    await Promise.all([...this.#bull.values()].map((b) => b.close(now).catch(() => undefined)));
    for (const r of [this.#redis, this.#pub, this.#sub]) r?.disconnect();
    rmSync(this.#tempDir, { recursive: true, force: true });
  }

  async #checkOutputDir(): Promise<void> {
    let mine: string;
    try {
      mine = readFileSync(join(this.#outputDir, OUTPUT_ID_FILE), 'utf8').trim();
    } catch {
      throw new OutputDirMismatchError(
        `${join(this.#outputDir, OUTPUT_ID_FILE)} is missing: --data-dir must be the server's data dir (shared or mounted at the same content), so that the server can serve what this worker writes. Start the server first.`,
      );
    }
    const theirs = await this.#redis!.get(KEYS.outputId);
    if (theirs !== mine) {
      throw new OutputDirMismatchError(
        `The output folder ${this.#outputDir} (id ${mine}) is not the one the server on this Redis serves (id ${theirs ?? 'none'}); point --data-dir at the server's data dir.`,
      );
    }
    this.#outputId = mine;
  }

  /** What this worker can run now: a model package installed while it runs is announced at the next refresh. */
  async #discover(): Promise<void> {
    const devices = this.#o.device === 'auto' ? availableDevices() : [this.#o.device];
    const models = (await listModels()).map((m) => `model:${m.name}`);
    this.#capabilities = [...devices.map((d) => `device:${d}`), ...models].sort();
  }

  async #announce(refresh = false): Promise<void> {
    if (refresh) await this.#discover();
    const a: WorkerAnnouncement = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      device: this.#o.device,
      concurrency: this.#o.concurrency,
      capabilities: this.#capabilities,
      running: this.running,
      startedAt: this.#startedAt,
      seenAt: Date.now(),
      ttlMs: this.#o.ttlMs,
    };
    await this.#redis!.hset(KEYS.workers, this.id, JSON.stringify(a));
  }

  #control(text: string): void {
    try {
      const m = JSON.parse(text) as { type: string; promptIds: string[] };
      if (m.type !== 'interrupt') return;
      for (const id of m.promptIds) this.#running.get(id)?.controller.abort(new Cancelled('Interrupted by a client'));
    } catch (error) {
      this.#o.log.warn(`bad control message: ${(error as Error).message}`);
    }
  }

  /** The queues this worker may take from, most specific first. */
  async #queues(): Promise<string[]> {
    const routes = await this.#redis!.hgetall(KEYS.routes);
    const mine = Object.entries(routes)
      .map(([name, text]) => [name, JSON.parse(text) as string[]] as const)
      .filter(([, requires]) => canRun(this.#capabilities, requires))
      .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
      .map(([name]) => name);
    if (!mine.includes(routeName([]))) mine.push(routeName([]));
    return mine;
  }

  #bullFor(name: string): BullWorker<JobData, JobResult> {
    let w = this.#bull.get(name);
    if (!w) {
      // No processor: jobs are fetched by hand. The stalled checker of every worker moves the
      // jobs of a dead one back to waiting (or fails them after STALL_RETRIES).
      w = new BullWorker<JobData, JobResult>(name, null, {
        connection: redisOptions(this.#o.url),
        prefix: PREFIX,
        name: this.id,
        autorun: false,
        lockDuration: this.#o.lockMs,
        stalledInterval: Math.max(500, Math.floor(this.#o.lockMs / 2)),
        maxStalledCount: STALL_RETRIES,
      });
      w.on('error', (e) => this.#o.log.warn(`queue ${name}: ${e.message}`));
      void w.startStalledCheckTimer();
      this.#bull.set(name, w);
    }
    return w;
  }

  async #next(): Promise<{ job: Job<JobData, JobResult>; token: string } | undefined> {
    for (const name of await this.#queues()) {
      const token = `${this.id}:${randomUUID()}`;
      const job = await this.#bullFor(name).getNextJob(token, { block: false });
      if (job) return { job, token };
    }
    return undefined;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      let got: { job: Job<JobData, JobResult>; token: string } | undefined;
      try {
        got = await this.#next();
      } catch (error) {
        // Redis restarting: wait and ask again; BullMQ persisted the jobs.
        this.#o.log.warn(`fetching a job: ${(error as Error).message}`);
        await this.#idle(500);
        continue;
      }
      if (!got) {
        await this.#idle(1000);
        continue;
      }
      await this.#process(got.job, got.token);
    }
  }

  /** Waits for a wake-up (a job was added) or `ms`, whichever first. */
  #idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake.add(done);
    });
  }

  #publish(envelope: WorkerEnvelope): void {
    void this.#pub!.publish(KEYS.events, packJson(envelope)).catch(() => undefined);
  }

  async #process(job: Job<JobData, JobResult>, token: string): Promise<void> {
    const data = job.data;
    const controller = new AbortController();
    this.#running.set(data.promptId, { controller });
    void this.#announce().catch(() => undefined);
    const renew = setInterval(
      () => {
        job.extendLock(token, this.#o.lockMs).catch((e: Error) => this.#o.log.warn(`lock of ${data.promptId}: ${e.message}`));
      },
      Math.max(200, Math.floor(this.#o.lockMs / 3)),
    );
    let result: JobResult;
    const recorded = readRecorded(this.#outputDir, data.promptId);
    try {
      if (recorded) {
        // It ran to the end before, but its end never reached Redis (Redis was away until the lock
        // expired): hand over that result instead of running it again and orphaning the first output.
        this.#o.log.warn(`prompt ${data.promptId} already ran (worker ${recorded.worker}); its recorded result is handed over, not run again`);
        result = recorded;
      } else {
        this.#publish({ kind: 'started', promptId: data.promptId, worker: this.id, ...(data.parent ? { parent: data.parent } : {}) });
        if (data.outputId !== this.#outputId) {
          result = {
            status: 'error',
            worker: this.id,
            error: {
              code: 'output_dir_mismatch',
              message: `Worker ${this.id} writes to another output folder than the server serves (the server was restarted on another data dir?)`,
            },
          };
        } else {
          let lastPreview = 0;
          const run = await runPrompt(
            this.#executor,
            { promptId: data.promptId, workflow: data.workflow },
            {
              signal: controller.signal,
              send: (message) => this.#publish({ kind: 'message', clientId: data.clientId, message }),
              preview: (p) => {
                // The hub keeps only the newest preview per client anyway; fewer crossings of Redis.
                const now = performance.now();
                if (now - lastPreview < this.#o.previewIntervalMs || data.clientId === null) return;
                lastPreview = now;
                const { width, height, frameCount, fps } = p.preview;
                const meta = { clientId: data.clientId, promptId: p.promptId, nodeId: p.nodeId, step: p.step, total: p.total, width, height, frameCount, ...(fps ? { fps } : {}) };
                void this.#pub!.publish(KEYS.events, packPreview(meta, p.preview.data)).catch(() => undefined);
              },
              outputDir: this.#outputDir,
              log: this.#o.log,
            },
          );
          result = { ...run, worker: this.id };
        }
        // Recorded before Redis is told: if Redis is away now, the next worker to get this job reads it.
        writeRecorded(this.#outputDir, data.promptId, result);
      }
    } catch (error) {
      result = { status: 'error', worker: this.id, error: { code: 'internal', message: (error as Error).message } };
    } finally {
      this.#running.delete(data.promptId);
    }
    if (await this.#complete(job, token, result)) rmSync(recordedFile(this.#outputDir, data.promptId), { force: true });
    clearInterval(renew);
    void this.#announce().catch(() => undefined);
  }

  /** Hands the result to BullMQ, retrying through a Redis restart for as long as the lock may still be ours; false when it could not. */
  async #complete(job: Job<JobData, JobResult>, token: string, result: JobResult): Promise<boolean> {
    const deadline = Date.now() + Math.max(this.#o.lockMs, 30_000);
    for (;;) {
      try {
        await job.moveToCompleted(result, token, false);
        return true;
      } catch (error) {
        const message = (error as Error).message;
        if (/lock|not active|Missing key/i.test(message) || Date.now() > deadline) {
          this.#o.log.warn(`prompt ${job.data.promptId}: could not record its end in Redis (${message}); the worker that gets it next hands over the recorded result`);
          return false;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}
