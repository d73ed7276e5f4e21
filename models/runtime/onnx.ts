// The one module that imports onnxruntime-node: session create / run / release, metadata, devices.
// Sessions live on a worker thread (onnx-thread.ts says why) unless SKYLOOM_ORT_THREAD=0 keeps
// them on the calling thread; the same code below runs them in either place.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { ModelLoadError, ModelRunError, UnsupportedDeviceError } from '../errors.js';
import type { Tensor, TensorDataMap, TensorType } from '../tensor.js';
import { GATE_BUSY, GATE_IDLE, RuntimeThread, toWireError, transferableCopies, transferableOutputs } from './onnx-thread.js';
import type { ThreadReply, ThreadRequest } from './onnx-thread.js';

/** What a user asks for. */
export type Device = 'auto' | 'cpu' | 'cuda';
/** What a session actually runs on. */
export type ResolvedDevice = 'cpu' | 'cuda';

/** Valid device names, in the order error messages list them. */
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'auto'];

/** Device → ONNX Runtime execution providers. One provider per list: ORT does not fall back by itself. */
export const EXECUTION_PROVIDERS: Readonly<Record<ResolvedDevice, readonly string[]>> = {
  cpu: ['cpu'],
  cuda: ['cuda'],
};

/** Where the models layer reports what it decided (e.g. the CUDA → CPU fallback). */
export interface ModelLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** A logger that drops everything, for callers that pass none. */
export const silentLogger: ModelLogger = { info: () => {}, warn: () => {} };

/** Options for {@link createSession}. */
export interface SessionOptions {
  device?: Device;
  /** Threads inside one operator; ORT picks the core count when unset. */
  intraOpNumThreads?: number;
  logger?: ModelLogger;
  /**
   * ORT's memory-pattern planning (default on). The Wan authors measured denoising rise from 21 to
   * 34 GB of GPU memory with it on. Their other setting, arena_extend_strategy kSameAsRequested,
   * is not reachable: onnxruntime-node 1.30 reads only deviceId from the CUDA provider options.
   */
  memoryPattern?: boolean;
}

/** One input or output of a session. `shape` holds numbers for fixed dims and strings for symbolic ones. */
export interface ValueInfo {
  readonly name: string;
  /** Element type (`float32`, `int64`, …); `undefined` for non-tensor values. */
  readonly type: string | undefined;
  readonly shape: readonly (number | string)[];
}

/** A live session: plain metadata; the ORT object stays inside this module (or its worker thread). */
export interface OnnxSession {
  readonly path: string;
  readonly device: ResolvedDevice;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

/** Options of {@link runSession}. */
export interface SessionRunOptions {
  /**
   * Aborting rejects the call with `signal.reason` at once. The native call itself cannot be
   * stopped (ORT's `terminate` run option is WebAssembly-only), so on the worker it finishes and
   * its result is dropped; the next call waits for it there. On the calling thread
   * (SKYLOOM_ORT_THREAD=0) the signal is only checked before the call.
   */
  signal?: AbortSignal;
  /**
   * Hand the feeds' buffers to the worker instead of copying them: the caller's typed arrays are
   * detached (length 0) afterwards. For large feeds used once, such as a streaming VAE's caches
   * fed back from the previous call's outputs. Views into a larger buffer are still copied; on the
   * calling thread (SKYLOOM_ORT_THREAD=0) nothing is detached.
   */
  transferFeeds?: boolean;
}

type Handle = { where: 'here'; inner: ort.InferenceSession } | { where: 'thread'; id: number };

const live = new WeakMap<OnnxSession, Handle>();

// Loaded on first use on this thread: with sessions off-thread, the main thread never loads the binding.
let ortModule: Promise<typeof ort> | undefined;
const loadOrt = (): Promise<typeof ort> => (ortModule ??= import('onnxruntime-node'));

let thread: RuntimeThread | undefined;

/**
 * Whether new sessions go to the worker thread: yes unless the environment says
 * `SKYLOOM_ORT_THREAD=0` (read at each createSession, so a benchmark can measure both in one process).
 */
export function sessionsOffThread(): boolean {
  return process.env['SKYLOOM_ORT_THREAD'] !== '0';
}

// Why CUDA cannot be used, once known (from the install, or from a failed attempt): later 'auto'
// sessions then skip the doomed attempt and its noisy native log line.
const cpuOnlyInstall: string | undefined = missingCudaProvider();
let cudaUnavailable: string | undefined = cpuOnlyInstall;
let cudaWarned = false;

/**
 * Why CUDA cannot work before trying it: the CPU-only install (package.json's allowScripts skips the CUDA download)
 * has no CUDA provider library next to the binding, and trying anyway makes ORT print a native
 * error line that users take for a failure.
 */
function missingCudaProvider(): string | undefined {
  const file = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (process.platform !== 'linux' && process.platform !== 'win32') return `onnxruntime-node has no CUDA build for ${process.platform}`;
  const root = dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')));
  const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(dir, file)) ? undefined : `${file} is not installed in ${dir} (the CPU-only build of onnxruntime-node)`;
}

/** The devices sessions can run on here: the CPU always, CUDA when its provider is installed and has not failed. */
export function availableDevices(): ResolvedDevice[] {
  return cudaUnavailable === undefined ? ['cuda', 'cpu'] : ['cpu'];
}

/**
 * Check a user-supplied device name.
 * @throws UnsupportedDeviceError listing the valid choices.
 */
export function parseDevice(name: string): Device {
  if ((DEVICES as readonly string[]).includes(name)) return name as Device;
  throw new UnsupportedDeviceError(name, DEVICES);
}

function metadata(values: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return values.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: undefined, shape: [] }));
}

async function open(path: string, device: ResolvedDevice, threads: number | undefined, memoryPattern = true): Promise<ort.InferenceSession> {
  // Severity 3 (errors): graph-optimizer notes such as removed initializers are not for users.
  const options: ort.InferenceSession.SessionOptions = { executionProviders: [...EXECUTION_PROVIDERS[device]], logSeverityLevel: 3 };
  if (threads !== undefined) options.intraOpNumThreads = threads;
  if (!memoryPattern) options.enableMemPattern = false;
  return (await loadOrt()).InferenceSession.create(path, options);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Create a session for an .onnx file (external `model.onnx_data` weights are found next to it).
 * The session lives on the worker thread unless {@link sessionsOffThread} says otherwise.
 * @throws UnsupportedDeviceError for an unknown device.
 * @throws ModelLoadError DEVICE_UNAVAILABLE when `cuda` is asked for and cannot be used;
 *   ONNX_INVALID (naming the file) when the file is not a loadable model.
 * @throws ModelRunError when the worker thread dies while creating it.
 */
export async function createSession(path: string, options: SessionOptions = {}): Promise<OnnxSession> {
  const device = parseDevice(options.device ?? 'auto');
  const logger = options.logger ?? silentLogger;
  if (!sessionsOffThread()) {
    const { session, inner } = await createHere(path, device, options.intraOpNumThreads, logger, options.memoryPattern);
    live.set(session, { where: 'here', inner });
    return session;
  }
  thread ??= new RuntimeThread(DEVICES);
  const request = { op: 'create' as const, path, device, threads: options.intraOpNumThreads, ...(options.memoryPattern === false ? { memoryPattern: false } : {}) };
  const reply = (await thread.request(request)) as CreateReply;
  // The worker learns whether CUDA works; availableDevices() answers on this thread.
  if (reply.cudaUnavailable !== undefined) cudaUnavailable = reply.cudaUnavailable;
  for (const { level, message: text } of reply.logs) logger[level](text);
  const session: OnnxSession = { path, device: reply.device, inputs: reply.inputs, outputs: reply.outputs };
  live.set(session, { where: 'thread', id: reply.session });
  return session;
}

interface CreateReply {
  session: number;
  device: ResolvedDevice;
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  logs: { level: 'info' | 'warn'; message: string }[];
  cudaUnavailable: string | undefined;
}

/** Create a session on this thread: the CUDA attempt, the fallback and its log line. */
async function createHere(
  path: string,
  device: Device,
  threads: number | undefined,
  logger: ModelLogger,
  memoryPattern?: boolean,
): Promise<{ session: OnnxSession; inner: ort.InferenceSession }> {
  let inner: ort.InferenceSession | undefined;
  let resolved: ResolvedDevice = 'cpu';

  if (device === 'cuda') {
    try {
      inner = await open(path, 'cuda', threads, memoryPattern);
      resolved = 'cuda';
    } catch (error) {
      throw new ModelLoadError(
        'DEVICE_UNAVAILABLE',
        path,
        `${path}: cannot create a CUDA session (${message(error)}). Install the CUDA build of onnxruntime-node or use device "auto" or "cpu".`,
        { cause: error },
      );
    }
  } else if (device === 'auto') {
    if (cudaUnavailable === undefined) {
      try {
        inner = await open(path, 'cuda', threads, memoryPattern);
        resolved = 'cuda';
      } catch (error) {
        cudaUnavailable = message(error);
      }
    }
    if (resolved === 'cpu') {
      // A CPU-only install is the normal case, so only its reason is said. A CUDA install that
      // fails is worth a warning, once: every session of a model would repeat it.
      const note = `device auto: CUDA is not available (${cudaUnavailable}); using the CPU`;
      if (cudaWarned || cpuOnlyInstall !== undefined) logger.info(note);
      else logger.warn(note);
      cudaWarned = true;
    }
  }
  inner ??= await openCpu(path, threads, memoryPattern);

  const session: OnnxSession = {
    path,
    device: resolved,
    inputs: metadata(inner.inputMetadata),
    outputs: metadata(inner.outputMetadata),
  };
  return { session, inner };
}

async function openCpu(path: string, threads: number | undefined, memoryPattern?: boolean): Promise<ort.InferenceSession> {
  try {
    return await open(path, 'cpu', threads, memoryPattern);
  } catch (error) {
    throw new ModelLoadError('ONNX_INVALID', path, `${path}: not a loadable ONNX model (${message(error)})`, { cause: error });
  }
}

function toOrt(o: typeof ort, t: Tensor): ort.Tensor {
  return new o.Tensor(t.type, t.data, [...t.dims]);
}

function fromOrt(name: string, path: string, t: ort.Tensor): Tensor {
  const type = t.type as TensorType;
  if (!['float32', 'float16', 'int64', 'int32', 'uint8', 'bool'].includes(type)) {
    throw new ModelRunError(path, `${path}: output "${name}" has unsupported element type ${t.type}`, undefined);
  }
  // CPU tensors own a JS typed array; keeping the reference past dispose() is safe (dispose drops ORT's).
  return { type, dims: [...t.dims], data: t.data as TensorDataMap[typeof type] };
}

/** Run a session on this thread; feeds and fetched outputs are disposed here. */
async function runHere(
  inner: ort.InferenceSession,
  path: string,
  feeds: Readonly<Record<string, Tensor>>,
  outputNames: readonly string[] | undefined,
): Promise<Record<string, Tensor>> {
  const o = await loadOrt();
  const ortFeeds: Record<string, ort.Tensor> = {};
  let results: ort.InferenceSession.ReturnType | undefined;
  try {
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(o, t);
    results = outputNames === undefined ? await inner.run(ortFeeds) : await inner.run(ortFeeds, [...outputNames]);
    const out: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(name, path, value as ort.Tensor);
    return out;
  } catch (error) {
    if (error instanceof ModelRunError) throw error;
    throw new ModelRunError(path, `${path}: run failed (${message(error)})`, error);
  } finally {
    for (const t of Object.values(ortFeeds)) t.dispose();
    if (results !== undefined) for (const t of Object.values(results)) (t as ort.Tensor).dispose();
  }
}

/** The feeds themselves, their whole buffers listed for transfer (see {@link SessionRunOptions.transferFeeds}). */
function handOver(feeds: Readonly<Record<string, Tensor>>): { tensors: Record<string, Tensor>; transfer: ArrayBuffer[] } {
  const tensors = { ...feeds };
  return { tensors, transfer: transferableOutputs(tensors) };
}

/**
 * Run a session. Returned tensors are plain; feeds are not modified (off-thread they are copied
 * once into transferred buffers, so callers may keep using them) unless `options.transferFeeds`.
 * @throws ModelRunError (naming the file) when ORT rejects the feeds or fails while running, or
 *   when the worker thread died since the session was created.
 * @throws Error when the session was already released.
 * @throws `options.signal.reason` when the signal aborts before the call returns.
 */
export async function runSession(
  session: OnnxSession,
  feeds: Readonly<Record<string, Tensor>>,
  outputNames?: readonly string[],
  options: SessionRunOptions = {},
): Promise<Record<string, Tensor>> {
  const handle = live.get(session);
  if (handle === undefined) throw new Error(`${session.path}: session was released`);
  if (handle.where === 'here') {
    options.signal?.throwIfAborted();
    return runHere(handle.inner, session.path, feeds, outputNames);
  }
  if (thread === undefined || !thread.owns(handle.id)) {
    throw new ModelRunError(session.path, `${session.path}: the ONNX Runtime worker thread stopped since this session was created; load the model again`, undefined);
  }
  const { tensors, transfer } = options.transferFeeds ? handOver(feeds) : transferableCopies(feeds);
  const request = { op: 'run' as const, session: handle.id, path: session.path, feeds: tensors, outputNames: outputNames && [...outputNames] };
  return (await thread.request(request, transfer, options.signal)) as Record<string, Tensor>;
}

/** Whether a live session runs on the worker thread (false: on the thread that created it; undefined: released). */
export function sessionOnWorker(session: OnnxSession): boolean | undefined {
  const handle = live.get(session);
  return handle === undefined ? undefined : handle.where === 'thread';
}

/** Release a session's native memory. Releasing twice is a no-op. */
export async function releaseSession(session: OnnxSession): Promise<void> {
  const handle = live.get(session);
  if (handle === undefined) return;
  live.delete(session);
  if (handle.where === 'here') {
    await handle.inner.release();
  } else if (thread?.owns(handle.id)) {
    await thread.request({ op: 'release', session: handle.id, path: session.path });
  }
}

/**
 * The worker thread's side (models/runtime/onnx-worker.ts calls it; nothing else should): serve
 * create / run / release requests from `port`, one at a time in arrival order — a release queued
 * behind a run must not free the session under it.
 */
export function serveSessions(port: MessagePort, gate: Int32Array): void {
  const sessions = new Map<number, { session: OnnxSession; inner: ort.InferenceSession }>();
  const missing = (id: number, path: string) => new ModelRunError(path, `${path}: no session ${id} in the ONNX Runtime worker thread`, undefined);
  const handle = async (req: ThreadRequest): Promise<{ value: unknown; transfer?: ArrayBuffer[] }> => {
    switch (req.op) {
      case 'create': {
        const logs: CreateReply['logs'] = [];
        const logger: ModelLogger = { info: (m) => logs.push({ level: 'info', message: m }), warn: (m) => logs.push({ level: 'warn', message: m }) };
        const created = await createHere(req.path, req.device, req.threads, logger, req.memoryPattern);
        sessions.set(req.id, created);
        const { device, inputs, outputs } = created.session;
        const value: CreateReply = { session: req.id, device, inputs, outputs, logs, cudaUnavailable };
        return { value };
      }
      case 'run': {
        const entry = sessions.get(req.session);
        if (entry === undefined) throw missing(req.session, req.path);
        const out = await runHere(entry.inner, req.path, req.feeds, req.outputNames);
        return { value: out, transfer: transferableOutputs(out) };
      }
      case 'release': {
        const entry = sessions.get(req.session);
        sessions.delete(req.session);
        await entry?.inner.release();
        return { value: undefined };
      }
    }
  };
  let queue = Promise.resolve();
  port.on('message', (req: ThreadRequest) => {
    queue = queue.then(async () => {
      let reply: ThreadReply;
      let transfer: ArrayBuffer[] = [];
      // No native call may start once the process is exiting (see GATE_CLOSED in onnx-thread.ts).
      if (Atomics.compareExchange(gate, 0, GATE_IDLE, GATE_BUSY) !== GATE_IDLE) return;
      try {
        const done = await handle(req);
        reply = { id: req.id, ok: true, value: done.value };
        transfer = done.transfer ?? [];
      } catch (error) {
        reply = { id: req.id, ok: false, error: toWireError(error) };
      } finally {
        Atomics.store(gate, 0, GATE_IDLE);
        Atomics.notify(gate, 0);
      }
      try {
        port.postMessage(reply, transfer);
      } catch (error) {
        // An answer structured clone refuses must still settle the caller's promise.
        port.postMessage({ id: req.id, ok: false, error: toWireError(error) } satisfies ThreadReply);
      }
    });
  });
}
