// Owns running the queue: one prompt at a time through one Executor, events to the hub, results to the store.

import { Cancelled, describeError, type ExecutionEvent, type Executor, type Logger, type Preview, type UiOutput } from '../engine/index.js';
import type { OutputFileRef, PromptError, RunWarning, ServerMessage, UiOutputRef } from '../protocol/index.js';
import type { Hub } from './hub.js';
import { relativeInside } from './paths.js';
import type { ClaimedPrompt, FinishedRun, Store } from './store.js';

/** The URL path under which output files are served. */
/** Progress messages a prompt may send at once, and how fast the allowance refills (a node's last step always goes). */
export const PROGRESS_BURST = 32;
export const PROGRESS_REFILL_MS = 25;

export const OUTPUTS_PATH = '/api/outputs/';

/** Turns an output node's absolute file paths into output-folder names and download URLs. */
export function toUiRef(ui: UiOutput, outputDir: string): UiOutputRef {
  const ref: UiOutputRef = {};
  if (ui.files) {
    ref.files = ui.files.map((f): OutputFileRef => {
      const rel = relativeInside(outputDir, f.path);
      const file: OutputFileRef = { filename: rel ?? f.path.split(/[\\/]/).pop()!, kind: f.kind };
      if (f.mime) file.mime = f.mime;
      if (rel !== undefined) file.url = OUTPUTS_PATH + rel.split('/').map(encodeURIComponent).join('/');
      return file;
    });
  }
  if (ui.values) ref.values = ui.values;
  return ref;
}

/**
 * The single worker. Prompts run strictly in queue order, one at a time, so the executor's output
 * cache is shared by consecutive prompts (a re-queued similar prompt re-runs only what changed).
 */
export class LocalRunner {
  readonly #store: Store;
  readonly #executor: Executor;
  readonly #hub: Hub;
  readonly #outputDir: string;
  readonly #log: Logger;
  #running?: { promptId: string; controller: AbortController };
  #wake?: () => void;
  #loop?: Promise<void>;
  #stopping = false;
  #closed = false;

  constructor(store: Store, executor: Executor, hub: Hub, options: { outputDir: string; log: Logger }) {
    this.#store = store;
    this.#executor = executor;
    this.#hub = hub;
    this.#outputDir = options.outputDir;
    this.#log = options.log;
  }

  /** Starts taking prompts from the store (those left queued by an earlier process first). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Tells the worker a prompt was queued. */
  notify(): void {
    this.#wake?.();
  }

  /** The prompt running now, if any. */
  get running(): string | undefined {
    return this.#running?.promptId;
  }

  /** Interrupts the running prompt (only if it is `promptId`, when one is given). */
  interrupt(promptId?: string): { interrupted: boolean; promptId: string | null } {
    const r = this.#running;
    if (!r || (promptId !== undefined && promptId !== r.promptId)) return { interrupted: false, promptId: null };
    r.controller.abort(new Cancelled('Interrupted by a client'));
    return { interrupted: true, promptId: r.promptId };
  }

  /** Sends the queue size to every client (coalesced by the hub). */
  broadcastStatus(): void {
    this.#hub.broadcastStatus(() => {
      if (this.#closed) return undefined;
      const { pending, running } = this.#store.counts();
      return { queueRemaining: pending + running, running: this.#running?.promptId ?? null };
    });
  }

  /** Stops after interrupting the running prompt; resolves once it is recorded. Queued prompts stay queued. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#running?.controller.abort(new Cancelled('The server shut down while this prompt ran'));
    this.#wake?.();
    await this.#loop;
    // The store closes after this; a status broadcast still waiting must not read it.
    this.#closed = true;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      const claimed = this.#store.claimNext();
      if (!claimed) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      try {
        await this.#execute(claimed);
      } catch (error) {
        // Only a store failure gets here; log it and go on with the next prompt rather than die.
        this.#log.error(`prompt ${claimed.promptId}: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  async #execute(p: ClaimedPrompt): Promise<void> {
    const controller = new AbortController();
    this.#running = { promptId: p.promptId, controller };
    this.broadcastStatus();
    try {
      const run = await runPrompt(this.#executor, p, {
        signal: controller.signal,
        send: (m) => this.#hub.send(p.clientId, m),
        preview: (data) => this.#hub.preview(p.clientId, data),
        outputDir: this.#outputDir,
        log: this.#log,
      });
      this.#store.finish(p.promptId, run);
    } finally {
      this.#running = undefined;
      this.broadcastStatus();
    }
  }
}

/** Where one run's messages go: the embedded worker sends them to the hub, a remote worker through Redis. */
export interface RunIo {
  signal: AbortSignal;
  send(message: ServerMessage): void;
  preview(data: { promptId: string; nodeId: string; step: number; total: number; preview: Preview }): void;
  outputDir: string;
  log: Logger;
}

/**
 * Runs one prompt through an executor, turning engine events into client messages (output files
 * become output-folder references), and says how it ended. Never throws for a failed run: a
 * failure is a result, recorded like a success.
 */
export async function runPrompt(executor: Executor, p: { promptId: string; workflow: unknown }, io: RunIo): Promise<FinishedRun> {
  const { signal, send, log, outputDir } = io;
  const outputsRef = (outputs: Record<string, UiOutput>) => Object.fromEntries(Object.entries(outputs).map(([id, ui]) => [id, toUiRef(ui, outputDir)]));
  const nodeMs: Record<string, number> = {};
  let executed: string[] = [];
  let cached: string[] = [];
  let ended = false;
  let stoppedAt: string | undefined;
  const warnings: RunWarning[] = [];
  // A token bucket: ordinary runs send every step; a fast sampler on a long clip (window by window,
  // thousands of steps a second) would flood the WebSocket and stall a browser, so beyond a burst
  // it sends about one step per PROGRESS_REFILL_MS. A node's last step always goes out.
  let tokens = PROGRESS_BURST;
  let refilled = Date.now();
  const onEvent = (e: ExecutionEvent) => {
    switch (e.type) {
      case 'progress': {
        const now = Date.now();
        tokens = Math.min(PROGRESS_BURST, tokens + (now - refilled) / PROGRESS_REFILL_MS);
        refilled = now;
        if (e.data.step < e.data.total) {
          if (tokens < 1) return;
          tokens -= 1;
        }
        send(e);
        return;
      }
      case 'execution_warning': {
        const { nodeId, nodeType, message } = e.data;
        warnings.push({ nodeId, nodeType, message });
        send(e);
        return;
      }
      case 'preview':
        io.preview(e.data);
        return;
      case 'executed': {
        nodeMs[e.data.nodeId] = e.data.ms;
        const { ui, ...rest } = e.data;
        send({ type: 'executed', data: ui ? { ...rest, ui: toUiRef(ui, outputDir) } : rest });
        return;
      }
      case 'execution_cached':
        cached = e.data.nodes;
        send(e);
        return;
      case 'execution_success':
        ended = true;
        send({ type: 'execution_success', data: { ...e.data, outputs: outputsRef(e.data.outputs) } });
        return;
      case 'execution_error': {
        ended = true;
        executed = e.data.executed;
        // The stack stays in the server's log; clients get the message.
        const { cause, ...data } = e.data;
        if (cause) log.error(`prompt ${p.promptId}: ${cause}`);
        send({ type: 'execution_error', data });
        return;
      }
      case 'execution_interrupted':
        ended = true;
        executed = e.data.executed;
        stoppedAt = e.data.nodeId;
        send(e);
        return;
      default:
        send(e);
    }
  };
  try {
    const result = await executor.run(p.workflow, { promptId: p.promptId, signal, onEvent });
    return {
      status: 'success',
      ms: result.ms,
      nodeMs,
      executed: result.executed,
      cached: result.cached,
      outputs: outputsRef(result.outputs),
      ...(warnings.length ? { warnings } : {}),
    };
  } catch (error) {
    const failure = describeFailure(error, signal);
    if (failure.status === 'interrupted' && stoppedAt && !failure.error.nodeId) failure.error.nodeId = stoppedAt;
    if (!ended) {
      // Failures before the first node (a workflow that no longer validates after a restart with
      // other node packs) have no engine event; the client still hears how its prompt ended.
      if (failure.status === 'interrupted') send({ type: 'execution_interrupted', data: { promptId: p.promptId, executed } });
      else send({ type: 'execution_error', data: { promptId: p.promptId, code: failure.error.code, message: failure.error.message, executed } });
    }
    return { status: failure.status, nodeMs, executed, cached, error: failure.error, ...(warnings.length ? { warnings } : {}) };
  }
}

/** The history state and error of a failed run, from the engine's one error mapping. */
function describeFailure(error: unknown, signal: AbortSignal): { status: 'error' | 'interrupted'; error: PromptError } {
  const { outcome, ...report } = describeError(error, { aborted: signal.aborted });
  if (outcome !== 'interrupted') return { status: 'error', error: report };
  // The reason the server gave for the interrupt (a DELETE, a shutdown) is what the user needs.
  const e: PromptError = { ...report, message: signal.reason instanceof Error ? signal.reason.message : 'Execution was interrupted' };
  return { status: 'interrupted', error: e };
}
