// Owns the persistent queue and history: one SQLite table of prompts, from queued to finished.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EngineError } from '../engine/index.js';
import { isDiskFull, StorageFullError } from './errors.js';
import type { HistoryEntry, OutputFileRef, PromptError, PromptStatus, QueueItem, RunWarning, UiOutputRef } from '../protocol/index.js';

// One row per prompt for its whole life; `number` is the queue order (and never reused, so a
// client's numbers keep meaning the same prompt across restarts).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS prompts (
  number      INTEGER PRIMARY KEY AUTOINCREMENT,
  id          TEXT    NOT NULL UNIQUE,
  client_id   TEXT,
  workflow    TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('queued','running','success','error','interrupted','cancelled')),
  queued_at   INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER,
  ms          REAL,
  node_ms     TEXT    NOT NULL DEFAULT '{}',
  executed    TEXT    NOT NULL DEFAULT '[]',
  cached      TEXT    NOT NULL DEFAULT '[]',
  outputs     TEXT    NOT NULL DEFAULT '{}',
  error       TEXT
);
CREATE INDEX IF NOT EXISTS prompts_status ON prompts (status, number);
`;

// Columns added after the first release; added to older databases on open.
const LATER_COLUMNS: Array<[string, string]> = [
  ['worker', 'TEXT'],
  ['seeds', 'TEXT'],
  ['warnings', 'TEXT'],
  // A client's Idempotency-Key: a retried POST /prompt with the same key gets the same prompt.
  ['idem_key', 'TEXT'],
];

interface Row {
  number: number;
  id: string;
  client_id: string | null;
  workflow: string;
  status: PromptStatus;
  queued_at: number;
  started_at: number | null;
  finished_at: number | null;
  ms: number | null;
  node_ms: string;
  executed: string;
  cached: string;
  outputs: string;
  error: string | null;
  worker?: string | null;
  seeds?: string | null;
  warnings?: string | null;
  /** The workflow's title, selected by history lists. */
  title?: unknown;
}

/** One seed of a fan-out, as its parent's record keeps it. */
export interface SeedRun {
  seed: number;
  promptId: string;
  status: PromptStatus;
  worker?: string;
}

/** A prompt the worker has claimed. */
export interface ClaimedPrompt {
  promptId: string;
  number: number;
  clientId: string | null;
  workflow: unknown;
}

/** How a run ended, as the worker reports it. */
export interface FinishedRun {
  status: 'success' | 'error' | 'interrupted';
  ms?: number;
  nodeMs?: Record<string, number>;
  executed?: string[];
  cached?: string[];
  outputs?: Record<string, UiOutputRef>;
  error?: PromptError;
  /** What nodes could not do as asked, in the order they warned. */
  warnings?: RunWarning[];
  /** The worker process that ran it (queue engine only). */
  worker?: string;
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(`INSERT INTO prompts (id, client_id, workflow, status, queued_at, idem_key) VALUES (?, ?, ?, 'queued', ?, ?)`),
    byKey: db.prepare(`SELECT id, number, workflow FROM prompts WHERE idem_key = ?`),
    forget: db.prepare(`DELETE FROM prompts WHERE id = ? AND status = 'queued'`),
    next: db.prepare(`SELECT * FROM prompts WHERE status = 'queued' ORDER BY number LIMIT 1`),
    start: db.prepare(`UPDATE prompts SET status = 'running', started_at = ? WHERE number = ? AND status = 'queued'`),
    finish: db.prepare(
      `UPDATE prompts SET status = @status, finished_at = @finishedAt, ms = @ms, node_ms = @nodeMs, executed = @executed,
         cached = @cached, outputs = @outputs, error = @error, warnings = @warnings WHERE id = @id AND status = 'running'`,
    ),
    cancel: db.prepare(`UPDATE prompts SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'`),
    get: db.prepare(`SELECT * FROM prompts WHERE id = ?`),
    queue: db.prepare(`SELECT * FROM prompts WHERE status IN ('queued','running') ORDER BY number`),
    counts: db.prepare(`SELECT SUM(status = 'running') AS running, SUM(status = 'queued') AS pending FROM prompts WHERE status IN ('queued','running')`),
    // Finished prompts only: a queued or running prompt leaves the queue first (DELETE /queue, interrupt).
    removeFinished: db.prepare(`DELETE FROM prompts WHERE id = ? AND status NOT IN ('queued','running') RETURNING outputs`),
    // Another record naming the file (instr on the JSON text, then exact on each file), so deleting one record's files never breaks another's.
    fileUsers: db.prepare(
      `SELECT p.number FROM prompts p, json_each(p.outputs) o, json_each(o.value, '$.files') f
        WHERE instr(p.outputs, ?) > 0 AND json_extract(f.value, '$.filename') = ? LIMIT 1`,
    ),
    running: db.prepare(`SELECT id, started_at FROM prompts WHERE status = 'running'`),
    markRunning: db.prepare(`UPDATE prompts SET status = 'running', started_at = ?, worker = ? WHERE id = ? AND status IN ('queued','running')`),
    record: db.prepare(
      `UPDATE prompts SET status = @status, finished_at = @finishedAt, ms = @ms, node_ms = @nodeMs, executed = @executed,
         cached = @cached, outputs = @outputs, error = @error, warnings = @warnings, worker = @worker WHERE id = @id AND status IN ('queued','running')`,
    ),
    unfinished: db.prepare(`SELECT id, status, seeds FROM prompts WHERE status IN ('queued','running') ORDER BY number`),
    setSeeds: db.prepare(`UPDATE prompts SET seeds = ? WHERE id = ?`),
    failRunning: db.prepare(`UPDATE prompts SET status = 'error', finished_at = ?, error = ? WHERE id = ? AND status = 'running'`),
  };
}

/**
 * Takes `<db>.lock` for this process. A lock whose process is gone (a crash, SIGKILL) is taken
 * over; one held by a live process is refused, because a second server on the same data dir
 * would mark the first one's running prompt failed and run queued prompts twice.
 * @throws EngineError `data_dir_in_use` naming the process that holds it
 */
function lock(file: string): () => void {
  const lockFile = `${file}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new EngineError('data_dir_in_use', `The data dir is in use by another Skyloom server (pid ${pid}, lock file ${lockFile}); stop it or use another --data-dir`);
    }
    rmSync(lockFile, { force: true });
  }
  throw new EngineError('data_dir_in_use', `Cannot take the lock ${lockFile}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else — still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The database file is not a database Skyloom can trust: emptied, or corrupt. Nothing was changed. */
export class DatabaseUnusableError extends EngineError {
  constructor(code: 'database_empty' | 'database_corrupt', message: string) {
    super(code, message);
    this.name = 'DatabaseUnusableError';
  }
}

// Room kept on the database's disk for recording how runs ended: when a result meets a full disk,
// this file is deleted and the record written, so a finished output is never recorded as failed.
const BALLAST_BYTES = 1024 * 1024;

export interface StoreOptions {
  /** Mark prompts left running as failed (the embedded queue); default true. */
  recoverRunning?: boolean;
  /**
   * A corrupt database is moved aside (`<db>.corrupt-<time>`) and a new one made holding every
   * prompt row that can still be read; default false (refuse to start).
   */
  repair?: boolean;
}

/** The reason given to a prompt found running when the store opens: the process died under it. */
export const SERVER_STOPPED = 'server_stopped';

const WHAT_TO_DO = (file: string) =>
  `Stop the server and restore ${file} from a backup, or start with --repair: the file is moved aside (kept) and a new database is made with every prompt that can still be read.`;

/**
 * Opens the database, refusing one that cannot be trusted: an existing 0-byte file (a fresh
 * install would restart prompt numbers at 1 and show an empty history without a word) or one
 * failing SQLite's quick_check. With `repair`, a corrupt one is moved aside and rebuilt instead.
 * @throws DatabaseUnusableError `database_empty` / `database_corrupt`, with what to do
 */
function openChecked(file: string, repair: boolean): { db: Database.Database; repairedFrom?: string } {
  if (file !== ':memory:' && existsSync(file) && statSync(file).size === 0 && !(existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0)) {
    if (!repair) {
      throw new DatabaseUnusableError(
        'database_empty',
        `The database ${file} exists but is empty (0 bytes): starting would lose the queue and history and restart prompt numbers at 1. ` +
          `If this is a new install, delete the file; otherwise ${WHAT_TO_DO(file).replace(/^Stop/, 'stop')}`,
      );
    }
    return { repairedFrom: moveAside(file), db: open(file) };
  }
  let problem: string | undefined;
  let db: Database.Database | undefined;
  try {
    db = open(file);
    const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
    if (rows.length !== 1 || rows[0]!.quick_check !== 'ok')
      problem = rows
        .slice(0, 3)
        .map((r) => r.quick_check)
        .join('; ');
  } catch (error) {
    problem = (error as Error).message;
  }
  if (problem === undefined) return { db: db! };
  db?.close();
  if (!repair) throw new DatabaseUnusableError('database_corrupt', `The database ${file} is corrupt (${problem}). ${WHAT_TO_DO(file)}`);
  const aside = moveAside(file);
  const fresh = open(file);
  salvage(aside, fresh);
  return { db: fresh, repairedFrom: aside };
}

function open(file: string): Database.Database {
  const db = new Database(file);
  // WAL with synchronous=NORMAL survives a process crash (what a restart must survive) without
  // an fsync per commit; only a power loss can lose the last few commits.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const have = new Set((db.pragma('table_info(prompts)') as Array<{ name: string }>).map((c) => c.name));
  for (const [name, type] of LATER_COLUMNS) if (!have.has(name)) db.exec(`ALTER TABLE prompts ADD COLUMN ${name} ${type}`);
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS prompts_idem_key ON prompts (idem_key) WHERE idem_key IS NOT NULL');
  return db;
}

/** Renames the database and its WAL files to `<file>.corrupt-<time>`; returns the new name. */
function moveAside(file: string): string {
  const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(file, aside);
  for (const suffix of ['-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
  return aside;
}

/** Copies every prompt row still readable from a corrupt database, keeping their numbers. */
function salvage(from: string, to: Database.Database): void {
  let old: Database.Database;
  try {
    old = new Database(from, { readonly: true });
  } catch {
    return;
  }
  try {
    const columns = (to.pragma('table_info(prompts)') as Array<{ name: string }>).map((c) => c.name);
    const insert = to.prepare(`INSERT OR IGNORE INTO prompts (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const copy = (row: Record<string, unknown>) => insert.run(Object.fromEntries(columns.map((c) => [c, row[c] ?? null])));
    try {
      for (const row of old.prepare('SELECT * FROM prompts ORDER BY number').iterate()) copy(row as Record<string, unknown>);
    } catch {
      // A scan stops at the first bad page; what came before it is kept, and single rows are tried past it.
      const max = (() => {
        try {
          return (old.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').get('prompts') as { seq: number } | undefined)?.seq ?? 0;
        } catch {
          return 0;
        }
      })();
      const one = old.prepare('SELECT * FROM prompts WHERE number = ?');
      for (let n = 1; n <= max; n++) {
        try {
          const row = one.get(n) as Record<string, unknown> | undefined;
          if (row) copy(row);
        } catch {
          // unreadable: lost
        }
      }
    }
  } catch {
    // the table itself is unreadable: a new database with nothing in it
  } finally {
    old.close();
  }
}

/**
 * The queue and history in one SQLite file (better-sqlite3 12.x; 13.x crashes on Node 20).
 * Synchronous on purpose: each call is one short transaction, and the single worker never waits
 * on another writer.
 */
export class Store {
  readonly #db: Database.Database;
  readonly #stmts: Statements;
  readonly #unlock: () => void;
  /** Prompts found running when the store opened, now marked failed; for logs. */
  readonly recovered: string[];

  /**
   * Opens (or creates) the database and marks any prompt left `running` by a dead process as failed.
   * @throws EngineError `data_dir_in_use` when a live process has the database open
   * @throws DatabaseUnusableError when an existing file is empty or fails the integrity check (and `repair` is off)
   */
  constructor(file: string, now: () => number = Date.now, options: StoreOptions = {}) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.#unlock = file === ':memory:' ? () => {} : lock(file);
    this.#ballast = file === ':memory:' ? undefined : `${dirname(file)}/.skyloom-reserve`;
    try {
      const opened = openChecked(file, options.repair === true);
      this.#db = opened.db;
      this.repairedFrom = opened.repairedFrom;
    } catch (error) {
      this.#unlock();
      throw error;
    }
    this.#stmts = prepareStatements(this.#db);
    this.#reserve();
    // With a queue engine the prompt runs in another process that outlives this one: whether it
    // finished is asked of the engine (RedisQueue reconciles), not assumed failed.
    this.recovered = options.recoverRunning === false ? [] : this.#recover(now());
  }

  /** Where the unusable database was moved by a repair, if one happened at open. */
  readonly repairedFrom: string | undefined;

  readonly #ballast: string | undefined;

  /** Keeps {@link BALLAST_BYTES} on the database's disk for results; a full disk now only logs later. */
  #reserve(): void {
    if (!this.#ballast || existsSync(this.#ballast)) return;
    try {
      writeFileSync(this.#ballast, Buffer.alloc(BALLAST_BYTES));
    } catch {
      // Still no room: tried again at the next prompt.
      rmSync(this.#ballast, { force: true });
    }
  }

  /** Runs a write of a result; on a full disk frees the reserve and tries once more. */
  #recordResult<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      if (!isDiskFull(error) || !this.#ballast || !existsSync(this.#ballast)) throw error;
      rmSync(this.#ballast, { force: true });
      this.reserveUsed = true;
      return write();
    }
  }

  /** Set once the reserve was spent on a result: the disk is full; `serve` says so. */
  reserveUsed = false;

  #recover(now: number): string[] {
    const rows = this.#stmts.running.all() as Array<{ id: string; started_at: number | null }>;
    const tx = this.#db.transaction(() => {
      for (const row of rows) {
        const error: PromptError = {
          code: SERVER_STOPPED,
          message: `The server stopped while this prompt was running${row.started_at ? ` (started ${new Date(row.started_at).toISOString()})` : ''}; it was not finished. Queue it again to run it.`,
        };
        this.#stmts.failRunning.run(now, JSON.stringify(error), row.id);
      }
    });
    tx();
    return rows.map((r) => r.id);
  }

  /** Adds a prompt at the end of the queue; `workflow` is stored as JSON. */
  /** @throws StorageFullError when the disk has no room for it (nothing is queued) */
  enqueue(promptId: string, workflow: unknown, clientId: string | null, now = Date.now(), key?: string): { number: number } {
    let info: Database.RunResult;
    try {
      info = this.#stmts.insert.run(promptId, clientId, JSON.stringify(workflow), now, key ?? null);
    } catch (error) {
      if (isDiskFull(error))
        throw new StorageFullError('The disk holding the queue is full: the prompt was not queued. Free space under the data dir and send it again.', { cause: error });
      throw error;
    }
    if (this.reserveUsed) {
      this.#reserve();
      this.reserveUsed = !existsSync(this.#ballast!);
    }
    return { number: Number(info.lastInsertRowid) };
  }

  /** The prompt queued with an idempotency key, with its workflow as stored (JSON). */
  byKey(key: string): { promptId: string; number: number; workflow: string } | undefined {
    const row = this.#stmts.byKey.get(key) as { id: string; number: number; workflow: string } | undefined;
    return row ? { promptId: row.id, number: row.number, workflow: row.workflow } : undefined;
  }

  /** Removes a queued prompt that never reached its queue engine (as if never sent); false when it was not queued. */
  forget(promptId: string): boolean {
    return this.#stmts.forget.run(promptId).changes === 1;
  }

  /** Takes the oldest queued prompt and marks it running, in one transaction; undefined when none waits. */
  claimNext(now = Date.now()): ClaimedPrompt | undefined {
    return this.#db.transaction(() => {
      const row = this.#stmts.next.get() as Row | undefined;
      if (!row) return undefined;
      this.#stmts.start.run(now, row.number);
      return { promptId: row.id, number: row.number, clientId: row.client_id, workflow: JSON.parse(row.workflow) as unknown };
    })();
  }

  /** Records how a running prompt ended; false when it was not running. */
  finish(promptId: string, run: FinishedRun, now = Date.now()): boolean {
    return this.#recordResult(() => this.#stmts.finish.run(endingRow(promptId, run, now)).changes === 1);
  }

  /** Marks a prompt running on `worker` (queue engine); false when it had already ended. */
  markRunning(promptId: string, worker: string | null, now = Date.now()): boolean {
    return this.#stmts.markRunning.run(now, worker, promptId).changes === 1;
  }

  /**
   * Records how a queued or running prompt ended (queue engine: a remote worker may finish a
   * prompt before the server heard that it started); false when it had already ended.
   */
  record(promptId: string, run: FinishedRun, now = Date.now()): boolean {
    return this.#recordResult(() => this.#stmts.record.run({ ...endingRow(promptId, run, now), worker: run.worker ?? null }).changes === 1);
  }

  /** Queued and running prompts, in queue order, with their fan-out seeds (if any). */
  unfinished(): Array<{ promptId: string; status: PromptStatus; seeds: SeedRun[] | null }> {
    const rows = this.#stmts.unfinished.all() as Array<{ id: string; status: PromptStatus; seeds: string | null }>;
    return rows.map((r) => ({ promptId: r.id, status: r.status, seeds: r.seeds ? (JSON.parse(r.seeds) as SeedRun[]) : null }));
  }

  /** Stores the seeds of a fan-out prompt and their states. */
  setSeeds(promptId: string, seeds: SeedRun[]): void {
    this.#stmts.setSeeds.run(JSON.stringify(seeds), promptId);
  }

  /** Takes a queued prompt off the queue (it stays in history as `cancelled`); false when it was not queued. */
  cancelQueued(promptId: string, now = Date.now()): boolean {
    return this.#stmts.cancel.run(now, promptId).changes === 1;
  }

  /** A prompt's whole record, workflow included. */
  get(promptId: string): HistoryEntry | undefined {
    const row = this.#stmts.get.get(promptId) as Row | undefined;
    return row ? toEntry(row, true) : undefined;
  }

  /** The status of one prompt, or undefined when unknown. */
  status(promptId: string): PromptStatus | undefined {
    return (this.#stmts.get.get(promptId) as Row | undefined)?.status;
  }

  /** The running prompt and those waiting, in queue order. */
  queue(): { running: QueueItem[]; pending: QueueItem[] } {
    const rows = this.#stmts.queue.all() as Row[];
    const item = (r: Row): QueueItem => ({ promptId: r.id, number: r.number, clientId: r.client_id, queuedAt: r.queued_at, startedAt: r.started_at });
    return { running: rows.filter((r) => r.status === 'running').map(item), pending: rows.filter((r) => r.status === 'queued').map(item) };
  }

  /** How many prompts run and wait. */
  counts(): { running: number; pending: number } {
    const c = this.#stmts.counts.get() as { running: number | null; pending: number | null };
    return { running: c.running ?? 0, pending: c.pending ?? 0 };
  }

  /**
   * Finished prompts matching `query`, newest first, without their workflows (each with its
   * workflow's title). `total` counts every match, `before` and `offset` aside.
   */
  history(query: HistoryQuery): { items: HistoryEntry[]; total: number } {
    const { where, params } = historyFilter(query);
    const shape = `${where}|${query.before === undefined ? '' : 'before'}`;
    let page = this.#historyPages.get(shape);
    if (!page) {
      page = {
        rows: this.#db.prepare(
          `SELECT *, json_extract(workflow, '$.title') AS title FROM prompts WHERE ${where}${query.before === undefined ? '' : ' AND number < @before'} ORDER BY number DESC LIMIT @limit OFFSET @offset`,
        ),
        count: this.#db.prepare(`SELECT COUNT(*) AS n FROM prompts WHERE ${where}`),
      };
      this.#historyPages.set(shape, page);
    }
    const rows = page.rows.all({ ...params, limit: query.limit, offset: query.offset, ...(query.before === undefined ? {} : { before: query.before }) }) as Row[];
    const total = (page.count.get(params) as { n: number }).n;
    return { items: rows.map((r) => toEntry(r, false)), total };
  }

  /** The statements of each filter combination used, prepared once. */
  readonly #historyPages = new Map<string, { rows: Database.Statement; count: Database.Statement }>();

  /**
   * Deletes a finished prompt's record.
   * @returns the output files it named, or undefined when no finished prompt has that id
   */
  removeFinished(promptId: string): OutputFileRef[] | undefined {
    const row = this.#stmts.removeFinished.get(promptId) as { outputs: string } | undefined;
    if (!row) return undefined;
    const outputs = JSON.parse(row.outputs) as Record<string, UiOutputRef>;
    const files = new Map(Object.values(outputs).flatMap((ui) => (ui.files ?? []).map((f) => [f.filename, f] as const)));
    return [...files.values()];
  }

  /** The number of a prompt whose record names this output file, if any. */
  fileUser(filename: string): number | undefined {
    return (this.#stmts.fileUsers.get(JSON.stringify(filename), filename) as { number: number } | undefined)?.number;
  }

  close(): void {
    if (!this.#db.open) return;
    this.#db.close();
    this.#unlock();
  }
}

/** Which finished prompts `GET /history` lists: a page, and filters that each narrow it. */
export interface HistoryQuery {
  limit: number;
  offset: number;
  /** Only prompts numbered below this (a stable cursor while new prompts finish). */
  before?: number;
  /** Only these statuses (of the finished ones). */
  status?: PromptStatus[];
  /** Only prompts with at least one output file of this kind. */
  kind?: OutputFileRef['kind'];
  /** Only prompts whose workflow title, or a `text` param of one of its nodes, holds this (ASCII case ignored). */
  text?: string;
}

/** The WHERE clause of a history query and its named parameters. */
function historyFilter(query: HistoryQuery): { where: string; params: Record<string, unknown> } {
  const clauses = ["status NOT IN ('queued','running')"];
  const params: Record<string, unknown> = {};
  if (query.status?.length) {
    clauses.push(`status IN (${query.status.map((_, i) => `@status${i}`).join(', ')})`);
    query.status.forEach((s, i) => (params[`status${i}`] = s));
  }
  if (query.kind) {
    clauses.push(`EXISTS (SELECT 1 FROM json_each(outputs) o, json_each(o.value, '$.files') f WHERE json_extract(f.value, '$.kind') = @kind)`);
    params.kind = query.kind;
  }
  if (query.text) {
    // The prompt text lives in a node's `text` param; the words an artist remembers a run by.
    clauses.push(
      `(instr(lower(coalesce(json_extract(workflow, '$.title'), '')), @text) > 0
        OR EXISTS (SELECT 1 FROM json_each(workflow, '$.nodes') n WHERE instr(lower(coalesce(json_extract(n.value, '$.params.text'), '')), @text) > 0))`,
    );
    // SQLite's lower() folds ASCII only; folding more here would miss "École" stored as typed.
    params.text = query.text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  }
  return { where: clauses.join(' AND '), params };
}

function toEntry(row: Row, withWorkflow: boolean): HistoryEntry {
  const entry: HistoryEntry = {
    promptId: row.id,
    number: row.number,
    clientId: row.client_id,
    status: row.status,
    timings: {
      queuedAt: row.queued_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      ms: row.ms,
      nodes: JSON.parse(row.node_ms) as Record<string, number>,
    },
    executed: JSON.parse(row.executed) as string[],
    cached: JSON.parse(row.cached) as string[],
    outputs: JSON.parse(row.outputs) as Record<string, UiOutputRef>,
    error: row.error ? (JSON.parse(row.error) as PromptError) : null,
  };
  if (row.worker) entry.worker = row.worker;
  if (row.seeds) entry.seeds = JSON.parse(row.seeds) as SeedRun[];
  if (row.warnings) entry.warnings = JSON.parse(row.warnings) as RunWarning[];
  if (typeof row.title === 'string') entry.title = row.title;
  if (withWorkflow) {
    const workflow = JSON.parse(row.workflow) as Record<string, unknown>;
    entry.workflow = workflow;
    if (typeof workflow.title === 'string') entry.title = workflow.title;
  }
  return entry;
}

/** The columns that say how a prompt ended, as the finish and record statements bind them. */
function endingRow(promptId: string, run: FinishedRun, now: number) {
  return {
    id: promptId,
    status: run.status,
    finishedAt: now,
    ms: run.ms ?? null,
    nodeMs: JSON.stringify(run.nodeMs ?? {}),
    executed: JSON.stringify(run.executed ?? []),
    cached: JSON.stringify(run.cached ?? []),
    outputs: JSON.stringify(run.outputs ?? {}),
    error: run.error ? JSON.stringify(run.error) : null,
    warnings: run.warnings?.length ? JSON.stringify(run.warnings) : null,
  };
}
