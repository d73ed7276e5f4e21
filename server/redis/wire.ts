// The wire between the server and `skyloom worker` processes: Redis keys, job data, event envelopes, connection.
//
// The wire between the server and `skyloom worker` processes, all in one Redis:
//   BullMQ queues `prompts` (no requirement) and `prompts-<hash>` (one per set of requirements,
//     e.g. `model:skyloom-tiny`); the hash → requirements map is the Redis hash `skyloom:routes`.
//     Job id = prompt id; the job's return value is how the run ended (FinishedRun).
//   `skyloom:workers`  hash: worker id → WorkerAnnouncement JSON, refreshed every ttl/3.
//   `skyloom:output-id` the id written in the server's output folder (`.skyloom-output-id`):
//     workers refuse to run until they see the same id in their `--data-dir`.
//   channel `skyloom:events`  worker → server: 'J' + JSON envelope, or 'P' + preview (binary).
//   `output/.skyloom-results/<job id>.json` how a job ended, written by its worker before Redis is
//     told (removed once Redis has it): a job run again after a Redis outage hands it over.
//   channel `skyloom:control` server → workers: interrupts. channel `skyloom:wake`: "a job was added".
// History stays in the server's SQLite store, fed by BullMQ's own events (QueueEvents), and
// reconciled against the jobs in Redis when the server starts — so neither a server restart nor
// a Redis restart loses a finished prompt.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { EngineError, type NodeRegistry, type Workflow } from '../../engine/index.js';
import { decodePreviewFrame, encodePreviewFrame, PREVIEW_RGB24, type RawPreviewMetadata, type ServerMessage, type WorkerAnnouncement } from '../../protocol/index.js';
import type { FinishedRun } from '../store.js';

/** Redis could not be reached, or `--queue` is not a redis:// URL. */
export class QueueConnectionError extends EngineError {
  constructor(message: string) {
    super('queue_unreachable', message);
    this.name = 'QueueConnectionError';
  }
}

/** A worker's output folder is not the server's: its files could not be served, so it refuses to run. */
export class OutputDirMismatchError extends EngineError {
  constructor(message: string) {
    super('output_dir_mismatch', message);
    this.name = 'OutputDirMismatchError';
  }
}

export const PREFIX = 'skyloom';
export const KEYS = {
  workers: `${PREFIX}:workers`,
  routes: `${PREFIX}:routes`,
  outputId: `${PREFIX}:output-id`,
  events: `${PREFIX}:events`,
  control: `${PREFIX}:control`,
  wake: `${PREFIX}:wake`,
} as const;
/** The file in the output folder that names it; the server writes it, workers compare it. */
export const OUTPUT_ID_FILE = '.skyloom-output-id';
/** A crashed worker's job is tried again this many times (BullMQ's maxStalledCount), then failed. */
export const STALL_RETRIES = 2;
export const DEFAULT_LOCK_MS = 30_000;
export const GENERIC_ROUTE = 'prompts';
// Finished jobs stay a day: long enough for a server that was down to read how they ended.
export const JOB_OPTIONS = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 24 * 3600 } } as const;

/** What a BullMQ job carries. */
export interface JobData {
  promptId: string;
  clientId: string | null;
  workflow: Workflow;
  requires: string[];
  /** The output folder's id the server expects the worker to write into. */
  outputId: string;
  /** For one seed of a fan-out: the parent prompt and this seed's index. */
  parent?: string;
  seedIndex?: number;
}

/** How a job ended, as the worker returns it (BullMQ stores it as the job's return value). */
export type JobResult = FinishedRun & { worker: string };

/** The messages a worker publishes on `skyloom:events` (JSON ones). */
export type WorkerEnvelope = { kind: 'message'; clientId: string | null; message: ServerMessage } | { kind: 'started'; promptId: string; parent?: string; worker: string };

/** The metadata in front of a preview's raw frames on `skyloom:events`: the preview codec's RGB24 metadata. */
export type PreviewEnvelope = RawPreviewMetadata;

/**
 * Reads `redis://[user:password@]host:port[/db]`.
 * @throws QueueConnectionError for anything else
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueConnectionError(`--queue must be a URL like redis://127.0.0.1:6379, got "${url}"`);
  }
  if (u.protocol !== 'redis:') throw new QueueConnectionError(`--queue must be a redis:// URL (BullMQ on Redis), got "${url}"`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new QueueConnectionError(`The database in ${url} must be a number`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(db ? { db: Number(db) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    // BullMQ's blocking commands must wait through a Redis restart instead of failing.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  };
}

/**
 * Connects and checks Redis answers within `ms`.
 * @throws QueueConnectionError naming the URL
 */
export async function connect(url: string, ms = 10_000): Promise<Redis> {
  const redis = new Redis({ ...redisOptions(url), lazyConnect: true });
  redis.on('error', () => {}); // reconnects by itself; callers see failures on their commands
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
  } catch (error) {
    redis.disconnect();
    throw new QueueConnectionError(`Cannot reach Redis at ${url}: ${(error as Error).message}. Start it (redis-server --port …) or fix --queue.`);
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/**
 * The capabilities a workflow needs: the union of what its nodes' `requires` say for their params
 * (defaults filled in), e.g. `model:<name>` for a model package and `device:cuda`.
 */
export function requirementsOf(workflow: Workflow, registry: NodeRegistry): string[] {
  const need = new Set<string>();
  for (const node of workflow.nodes) {
    const definition = registry.get(node.type);
    if (!definition?.requires) continue;
    const defaults = Object.fromEntries(Object.entries(definition.params ?? {}).map(([name, spec]) => [name, spec.default]));
    for (const r of definition.requires({ ...defaults, ...(node.params ?? {}) })) need.add(r);
  }
  return [...need].sort();
}

/** The BullMQ queue for one set of requirements. */
export function routeName(requires: readonly string[]): string {
  if (requires.length === 0) return GENERIC_ROUTE;
  return `${GENERIC_ROUTE}-${createHash('sha256')
    .update(JSON.stringify([...requires].sort()))
    .digest('hex')
    .slice(0, 16)}`;
}

export function canRun(capabilities: readonly string[], requires: readonly string[]): boolean {
  return requires.every((r) => capabilities.includes(r));
}

/** The live workers' announcements (silent ones are dropped, and deleted). */
export async function liveWorkers(redis: Redis, now = Date.now()): Promise<WorkerAnnouncement[]> {
  const all = await redis.hgetall(KEYS.workers);
  const live: WorkerAnnouncement[] = [];
  for (const [id, text] of Object.entries(all)) {
    const w = JSON.parse(text) as WorkerAnnouncement;
    if (now - w.seenAt > w.ttlMs) await redis.hdel(KEYS.workers, id);
    else live.push(w);
  }
  return live.sort((a, b) => a.id.localeCompare(b.id));
}

/** Packs a JSON envelope for `skyloom:events`. */
export function packJson(envelope: WorkerEnvelope): Buffer {
  return Buffer.concat([Buffer.from('J'), Buffer.from(JSON.stringify(envelope))]);
}

/** Packs a preview for `skyloom:events`: 'P', then one PREVIEW_RGB24 frame of the preview codec (protocol/preview.ts). */
export function packPreview(meta: PreviewEnvelope, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('P'), encodePreviewFrame(PREVIEW_RGB24, meta, data)]);
}

/**
 * Reads what packPreview packed.
 * @throws RangeError for a frame that is not a whole RGB24 preview
 */
export function unpackPreview(message: Buffer): { meta: PreviewEnvelope; data: Uint8Array } {
  const { type, metadata, image } = decodePreviewFrame<RawPreviewMetadata>(new Uint8Array(message.buffer, message.byteOffset + 1, message.byteLength - 1));
  if (type !== PREVIEW_RGB24) throw new RangeError(`A worker preview is an RGB24 frame (type ${PREVIEW_RGB24}), got type ${type}`);
  return { meta: metadata, data: image };
}

/** Where a worker records how a job ended before telling Redis (in the shared output folder, so any worker finds it). */
export const RESULTS_DIR = '.skyloom-results';

export function recordedFile(outputDir: string, jobId: string): string {
  return join(outputDir, RESULTS_DIR, `${jobId.replace(/[^\w.-]/g, '_')}.json`);
}

/** The result a worker recorded for a job, if any. */
export function readRecorded(outputDir: string, jobId: string): JobResult | undefined {
  try {
    return JSON.parse(readFileSync(recordedFile(outputDir, jobId), 'utf8')) as JobResult;
  } catch {
    return undefined;
  }
}

/** Records a job's result atomically; on a full disk it is skipped (Redis is still told). */
export function writeRecorded(outputDir: string, jobId: string, result: JobResult): void {
  const file = recordedFile(outputDir, jobId);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.partial`, JSON.stringify(result));
    renameSync(`${file}.partial`, file);
  } catch {
    // No room to record it: Redis is told as before, and only a Redis outage now could repeat it.
    rmSync(`${file}.partial`, { force: true });
  }
}
