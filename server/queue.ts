// Owns the queue contract: PromptQueue, the one interface the routes use, and its embedded (SQLite, in-process worker) implementation.

import type { Workflow } from '../engine/index.js';
import type { HistoryEntry, InterruptResponse, PromptResponse, QueueResponse, WorkerAnnouncement } from '../protocol/index.js';
import { BadRequestError, ConflictError, NotFoundError } from './errors.js';
import type { HistoryQuery, Store } from './store.js';
import type { LocalRunner } from './local-runner.js';

/** A fan-out request: run the workflow once per value, with `param` (`nodeId.param`) set to it. */
export interface SeedFanOut {
  param: string;
  values: number[];
}

/**
 * Where prompts wait and how they reach a worker. Two implementations: {@link EmbeddedQueue}
 * (SQLite + the one worker inside the server; the default for one machine) and `RedisQueue`
 * (BullMQ on Redis + `skyloom worker` processes). History lives in the server's SQLite store in
 * both, so reading it never needs the queue engine to be up.
 */
export interface PromptQueue {
  readonly engine: 'embedded' | 'redis';
  /** Starts delivering queued prompts (those left by an earlier process first). */
  start(): Promise<void>;
  /**
   * Queues a validated workflow.
   * Queues a validated workflow; `key` is the client's idempotency key, stored with it.
   * @throws BadRequestError `seeds_unsupported` for a fan-out the engine cannot spread
   * @throws QueueUnavailableError when the queue engine cannot take it now (nothing is queued)
   */
  enqueue(promptId: string, workflow: Workflow, clientId: string | null, seeds?: SeedFanOut, key?: string): Promise<PromptResponse>;
  /** The running prompts and those waiting, in queue order. */
  queue(): QueueResponse;
  counts(): { running: number; pending: number };
  /** The prompt running now (the first, when several run); for the status message. */
  running(): string | null;
  /**
   * Takes a waiting prompt off the queue (it stays in history as `cancelled`).
   * @throws NotFoundError for an unknown prompt
   * @throws ConflictError `prompt_running` / `prompt_finished` when it is no longer waiting
   */
  remove(promptId: string): Promise<void>;
  /** Interrupts a running prompt (every running prompt when none is named), wherever it runs. */
  interrupt(promptId?: string): Promise<InterruptResponse>;
  get(promptId: string): HistoryEntry | undefined;
  /** Finished prompts matching the query, newest first. */
  history(query: HistoryQuery): { items: HistoryEntry[]; total: number };
  /** The worker processes alive now; empty for the embedded queue. */
  workers(): Promise<WorkerAnnouncement[]>;
  /** Sends the queue size to every client (coalesced). */
  broadcastStatus(): void;
  /** Stops delivering; the embedded queue interrupts its running prompt. Queued prompts stay queued. */
  close(): Promise<void>;
}

/** Throws the error that says why a prompt that is not waiting cannot be removed. */
export function notRemovable(store: Store, promptId: string): never {
  const status = store.status(promptId);
  if (status === undefined) throw new NotFoundError(`No prompt ${promptId}`);
  if (status === 'running') throw new ConflictError('prompt_running', `Prompt ${promptId} is running; interrupt it with POST /api/interrupt`);
  throw new ConflictError('prompt_finished', `Prompt ${promptId} is not queued (it is ${status})`);
}

/** The default: the SQLite store is the queue, and one worker inside the server runs it in order. */
export class EmbeddedQueue implements PromptQueue {
  readonly engine = 'embedded' as const;
  readonly #store: Store;
  readonly #worker: LocalRunner;

  constructor(store: Store, worker: LocalRunner) {
    this.#store = store;
    this.#worker = worker;
  }

  start(): Promise<void> {
    this.#worker.start();
    return Promise.resolve();
  }

  enqueue(promptId: string, workflow: Workflow, clientId: string | null, seeds?: SeedFanOut, key?: string): Promise<PromptResponse> {
    if (seeds) {
      // One worker runs one prompt at a time: a fan-out would only be N prompts in a row.
      throw new BadRequestError('seeds_unsupported', 'A seeds fan-out needs a queue engine with workers: start the server with --queue redis://host:port');
    }
    const { number } = this.#store.enqueue(promptId, workflow, clientId, Date.now(), key);
    this.#worker.notify();
    this.#worker.broadcastStatus();
    return Promise.resolve({ promptId, number });
  }

  queue(): QueueResponse {
    return this.#store.queue();
  }

  counts(): { running: number; pending: number } {
    return this.#store.counts();
  }

  running(): string | null {
    return this.#worker.running ?? null;
  }

  remove(promptId: string): Promise<void> {
    if (!this.#store.cancelQueued(promptId)) notRemovable(this.#store, promptId);
    this.#worker.broadcastStatus();
    return Promise.resolve();
  }

  interrupt(promptId?: string): Promise<InterruptResponse> {
    return Promise.resolve(this.#worker.interrupt(promptId));
  }

  get(promptId: string): HistoryEntry | undefined {
    return this.#store.get(promptId);
  }

  history(query: HistoryQuery): { items: HistoryEntry[]; total: number } {
    return this.#store.history(query);
  }

  workers(): Promise<WorkerAnnouncement[]> {
    return Promise.resolve([]);
  }

  broadcastStatus(): void {
    this.#worker.broadcastStatus();
  }

  close(): Promise<void> {
    return this.#worker.stop();
  }
}
