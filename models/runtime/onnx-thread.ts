// Owns the worker thread ONNX sessions run on: starting it, requests and replies, tensor transfers, errors across it.
//
// Why a worker thread: onnxruntime-node's InferenceSession.run() (and session creation) is a
// synchronous native call on the thread that makes it, so on the main thread a denoiser step of
// 150–700 ms (a 30-s default clip) or of seconds (Wan on a GPU) froze HTTP, WebSocket progress and
// interrupt for its whole length. One worker thread, rather than a process per prompt: sessions
// (and the session cache's memory budget) stay shared by consecutive prompts in one process,
// tensors cross as transferred ArrayBuffers instead of through a pipe, and the nodes, the executor
// and the callers of models/runtime/onnx.ts do not change. Calls are served one at a time in
// arrival order, as they were on the main thread; ORT still spreads each call over its own
// intra-op threads. See docs/runtime.md.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ModelLoadError, ModelRunError, UnsupportedDeviceError } from '../errors.js';
import type { ModelLoadErrorCode } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** A request to the worker; `id` is unique in the process, and a created session is known by its request's id. */
export type ThreadRequest =
  | { op: 'create'; id: number; path: string; device: 'auto' | 'cpu' | 'cuda'; threads?: number }
  | { op: 'run'; id: number; session: number; path: string; feeds: Record<string, Tensor>; outputNames?: string[] }
  | { op: 'release'; id: number; session: number; path: string };

/** Distributes Omit over the union, so each request keeps its own fields. */
export type ThreadRequestBody = ThreadRequest extends infer R ? (R extends ThreadRequest ? Omit<R, 'id'> : never) : never;

/** An error as it crosses the thread boundary: enough to rebuild the same class with the same message. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  path?: string;
  expected?: string;
  actual?: string;
  device?: string;
  cause?: { name: string; message: string; stack?: string };
}

/** The worker's answer to one request. */
export type ThreadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

function plainCause(cause: unknown): WireError['cause'] {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) return { name: cause.name, message: cause.message, stack: cause.stack };
  return { name: 'Error', message: String(cause) };
}

/** Flatten an error for postMessage (structured clone would keep only a plain Error's name and message). */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const e = error as Error & Partial<Record<'code' | 'path' | 'expected' | 'actual' | 'device', string>>;
  return {
    name: e.name,
    message: e.message,
    stack: e.stack,
    code: e.code,
    path: e.path,
    expected: e.expected,
    actual: e.actual,
    device: e.device,
    cause: plainCause(e.cause),
  };
}

/** Rebuild an error from the worker as the class it was thrown as, with the same message. */
export function fromWireError(w: WireError, deviceChoices: readonly string[]): Error {
  let cause: Error | undefined;
  if (w.cause !== undefined) {
    cause = new Error(w.cause.message);
    cause.name = w.cause.name;
    if (w.cause.stack !== undefined) cause.stack = w.cause.stack;
  }
  let error: Error;
  if (w.name === 'ModelLoadError') {
    error = new ModelLoadError(w.code as ModelLoadErrorCode, w.path ?? '', w.message, { expected: w.expected, actual: w.actual, cause });
  } else if (w.name === 'ModelRunError') {
    error = new ModelRunError(w.path ?? '', w.message, cause);
  } else if (w.name === 'UnsupportedDeviceError') {
    error = new UnsupportedDeviceError(w.device ?? '', deviceChoices);
  } else {
    error = new Error(w.message, cause === undefined ? undefined : { cause });
    error.name = w.name;
  }
  // The caller's stack says who asked; the worker's says where it failed — keep both.
  if (w.stack !== undefined) error.stack = `${error.stack ?? ''}\n    --- in the ONNX Runtime worker thread ---\n${w.stack}`;
  return error;
}

/**
 * Copy each tensor into a buffer of exactly its size, ready to transfer: callers keep using their
 * feeds (text states are fed on every step), so theirs cannot be detached, and a view into a
 * larger buffer would otherwise clone that whole buffer.
 */
export function transferableCopies(tensors: Readonly<Record<string, Tensor>>): { tensors: Record<string, Tensor>; transfer: ArrayBuffer[] } {
  const out: Record<string, Tensor> = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.data.slice() as Tensor['data'];
    out[name] = { type: t.type, dims: [...t.dims], data } as Tensor;
    transfer.push(data.buffer as ArrayBuffer);
  }
  return { tensors: out, transfer };
}

/**
 * Make `tensors` ready to hand over: those owning their whole buffer (ORT's outputs do) go as they
 * are, a view into a shared or larger buffer (or one already listed) is copied first. Returns the
 * buffers to transfer; the entries of `tensors` are replaced where copied.
 */
export function transferableOutputs(tensors: Record<string, Tensor>): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const buffer = t.data.buffer;
    const whole = buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buffer.byteLength && !transfer.includes(buffer);
    const data = whole ? t.data : (t.data.slice() as Tensor['data']);
    tensors[name] = { type: t.type, dims: t.dims, data } as Tensor;
    transfer.push(data.buffer as ArrayBuffer);
  }
  return transfer;
}

/**
 * The exit gate, one Int32 shared with the worker: IDLE, BUSY while the worker is inside a native
 * ORT call, CLOSED once the process exits. A worker torn down while a native call is running
 * aborts the whole process when the call returns (onnxruntime-node throws a C++ Napi::Error into
 * a terminated environment), so exit waits for the running call and bars new ones.
 */
export const GATE_IDLE = 0;
export const GATE_BUSY = 1;
export const GATE_CLOSED = 2;

/** How long process exit waits for a running model call; a longer one is cut (and ORT's binding aborts). */
export const EXIT_WAIT_MS = 30_000;

function closeGate(gate: Int32Array): void {
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (;;) {
    if (Atomics.compareExchange(gate, 0, GATE_IDLE, GATE_CLOSED) !== GATE_BUSY) return;
    const left = deadline - Date.now();
    if (left <= 0) return;
    Atomics.wait(gate, 0, GATE_BUSY, left);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  path: string;
}

/** How to start the worker entry next to this module: TypeScript under tsx/vitest, JavaScript in dist/. */
function workerEntry(): { script: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { script: new URL('./onnx-worker.js', import.meta.url), eval: false };
  // From sources the worker needs a TypeScript loader of its own (vitest's does not reach it).
  // Node 20 ignores `--import` in a worker's execArgv, so tsx's require hook is registered by a
  // two-line bootstrap instead; it compiles the entry and what it imports as it loads them.
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const entry = fileURLToPath(new URL('./onnx-worker.ts', import.meta.url));
  return { script: `require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(entry)});`, eval: true };
}

/**
 * The one worker thread that owns every off-thread session. Started on the first request; held
 * (ref'd) only while a request is outstanding, so an idle worker — even one holding live sessions
 * for the session cache — never keeps the process from exiting.
 */
export class RuntimeThread {
  #worker: Worker | undefined;
  #nextId = 1;
  // Sessions made by an earlier worker (before a crash) have ids below this and are gone.
  #firstId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #deviceChoices: readonly string[];

  constructor(deviceChoices: readonly string[]) {
    this.#deviceChoices = deviceChoices;
  }

  /** Whether a session id belongs to the worker running now. */
  owns(session: number): boolean {
    return this.#worker !== undefined && session >= this.#firstId;
  }

  /**
   * Send a request and wait for its reply. With a signal, an abort rejects at once with
   * `signal.reason`: the call already running in the worker finishes there and its result is
   * dropped, so an interrupted prompt never waits for it.
   * @throws the request's error rebuilt as its class (ModelLoadError, ModelRunError, …).
   * @throws ModelRunError when the worker thread dies before replying.
   * @throws `signal.reason` when the signal aborts first.
   */
  request(body: ThreadRequestBody, transfer: ArrayBuffer[] = [], signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        this.#hold();
        reject(signal!.reason as Error);
      };
      this.#pending.set(id, {
        path: body.path,
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#hold();
      try {
        worker.postMessage({ ...body, id }, transfer);
      } catch (error) {
        // A value structured clone refuses: settle now, or the held worker would keep the process alive.
        this.#pending.get(id)?.reject(new ModelRunError(body.path, `${body.path}: cannot send the request to the ONNX Runtime worker thread (${(error as Error).message})`, error));
        this.#pending.delete(id);
        this.#hold();
      }
    });
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const entry = workerEntry();
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(entry.script, { eval: entry.eval, workerData: { gate } });
    // 'exit' runs before Node tears workers down, on a natural exit and on process.exit() alike.
    const onExit = () => closeGate(gate);
    process.once('exit', onExit);
    this.#firstId = this.#nextId;
    worker.on('message', (reply: ThreadReply) => {
      const p = this.#pending.get(reply.id);
      if (p === undefined) return; // abandoned by an aborted caller
      this.#pending.delete(reply.id);
      this.#hold();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(fromWireError(reply.error, this.#deviceChoices));
    });
    const fail = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      process.off('exit', onExit);
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(new ModelRunError(p.path, `${p.path}: the ONNX Runtime worker thread stopped (${why}); load the model again`, undefined));
      }
    };
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.#worker = worker;
    return worker;
  }

  #hold(): void {
    if (this.#pending.size > 0) this.#worker?.ref();
    else this.#worker?.unref();
  }
}
