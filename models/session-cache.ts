// Sessions shared across runs, keyed by (file, device, threads), within a memory budget with LRU release.
import { stat } from 'node:fs/promises';
import { createSession, releaseSession, silentLogger } from './runtime/onnx.js';
import type { Device, ModelLogger, OnnxSession, SessionOptions } from './runtime/onnx.js';

/** Options of a {@link SessionCache}. */
export interface SessionCacheOptions {
  /** Bytes the cached sessions may use together (estimated). */
  budgetBytes: number;
  /**
   * Estimated resident bytes per byte of model file (.onnx + .onnx_data). ORT keeps the weights
   * plus arena and pre-packed copies, so a session uses more than its file; 1.5 is a middle guess.
   */
  sizeFactor?: number;
  logger?: ModelLogger;
  /** How sessions are opened and closed; the ONNX Runtime functions unless a test swaps them. */
  open?: (path: string, options: SessionOptions) => Promise<OnnxSession>;
  close?: (session: OnnxSession) => Promise<void>;
}

/** What identifies a cached session besides its file. */
export interface SessionKey {
  device: Device;
  threads?: number;
  /** ORT's memory-pattern planning; off for families whose shapes change per run (default on). */
  memoryPattern?: boolean;
}

interface Entry {
  key: string;
  path: string;
  session: Promise<OnnxSession>;
  bytes: number;
  users: number;
  lastUsed: number;
}

/**
 * Estimate a session's memory from its files: `model.onnx` plus its external weights, Optimum's
 * `model.onnx_data` or the wannx exporter's `dit.onnx.data`.
 */
export async function estimateSessionBytes(path: string, sizeFactor: number): Promise<number> {
  let bytes = (await stat(path)).size;
  for (const external of [`${path}_data`, `${path}.data`]) {
    try {
      bytes += (await stat(external)).size;
    } catch {
      // no external weights of this name
    }
  }
  return Math.ceil(bytes * sizeFactor);
}

/**
 * An LRU cache of ONNX sessions. {@link SessionCache.use} pins a session for the duration of a call,
 * so a session in use is never released mid-run, even when the budget is exceeded meanwhile.
 */
export class SessionCache {
  readonly budgetBytes: number;
  private readonly sizeFactor: number;
  private readonly logger: ModelLogger;
  private readonly open: (path: string, options: SessionOptions) => Promise<OnnxSession>;
  private readonly close: (session: OnnxSession) => Promise<void>;
  private readonly entries = new Map<string, Entry>();
  // A counter, not Date.now(): two uses in one millisecond must still be ordered.
  private clock = 0;

  constructor(options: SessionCacheOptions) {
    this.budgetBytes = options.budgetBytes;
    this.sizeFactor = options.sizeFactor ?? 1.5;
    this.logger = options.logger ?? silentLogger;
    this.open = options.open ?? createSession;
    this.close = options.close ?? releaseSession;
  }

  /** Estimated bytes held by cached sessions. */
  get usedBytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.bytes;
    return total;
  }

  /** Files (with device and threads) currently cached, least recently used first. */
  keys(): string[] {
    return [...this.entries.values()].sort((a, b) => a.lastUsed - b.lastUsed).map((e) => e.key);
  }

  /**
   * Run `fn` with the session for `path`, creating it on first use. The session stays pinned until
   * `fn` settles; afterwards least recently used idle sessions are released while over budget.
   * @throws ModelLoadError from session creation (a failed creation is not cached).
   * @throws whatever `fn` throws.
   */
  async use<R>(path: string, key: SessionKey, fn: (session: OnnxSession) => Promise<R>): Promise<R> {
    const entry = await this.acquire(path, key);
    try {
      return await fn(await entry.session);
    } finally {
      entry.users -= 1;
      entry.lastUsed = ++this.clock;
      await this.evict();
    }
  }

  /**
   * Release the idle session of one file (a staged model frees a stage before the next loads).
   * A pinned session is left alone; it is released by the budget when its run ends.
   */
  async release(path: string, key: SessionKey): Promise<void> {
    const entry = this.entries.get(this.id(path, key));
    if (entry !== undefined && entry.users === 0) await this.drop(entry);
  }

  /** Release every idle session (pinned ones are kept). */
  async clear(): Promise<void> {
    for (const e of [...this.entries.values()]) if (e.users === 0) await this.drop(e);
  }

  private async acquire(path: string, key: SessionKey): Promise<Entry> {
    const id = this.id(path, key);
    let entry = this.entries.get(id);
    if (entry === undefined) {
      const bytes = await estimateSessionBytes(path, this.sizeFactor);
      // Re-check: another caller may have created it while we were stat-ing.
      entry = this.entries.get(id);
      if (entry === undefined) {
        const created: Entry = {
          key: id,
          path,
          session: this.open(path, { device: key.device, intraOpNumThreads: key.threads, logger: this.logger, ...(key.memoryPattern === false ? { memoryPattern: false } : {}) }),
          bytes,
          users: 0,
          lastUsed: ++this.clock,
        };
        this.entries.set(id, created);
        created.session.catch(() => this.entries.delete(id));
        entry = created;
      }
    }
    entry.users += 1;
    entry.lastUsed = ++this.clock;
    try {
      await entry.session;
    } catch (error) {
      entry.users -= 1;
      throw error;
    }
    return entry;
  }

  private id(path: string, key: SessionKey): string {
    return `${path}|${key.device}|${key.threads ?? 'default'}${key.memoryPattern === false ? '|nomempattern' : ''}`;
  }

  private async evict(): Promise<void> {
    while (this.usedBytes > this.budgetBytes) {
      const idle = [...this.entries.values()].filter((e) => e.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
      const victim = idle[0];
      if (victim === undefined) return; // everything left is in use; released when its run ends
      this.logger.info(`session cache over budget: releasing ${victim.path}`);
      await this.drop(victim);
    }
  }

  private async drop(entry: Entry): Promise<void> {
    this.entries.delete(entry.key);
    await this.close(await entry.session);
  }
}
