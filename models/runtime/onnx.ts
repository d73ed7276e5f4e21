// The one module that imports onnxruntime-node: session create / run / release, metadata, devices.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelLoadError, ModelRunError, UnsupportedDeviceError } from '../errors.js';
import type { Tensor, TensorDataMap, TensorType } from '../tensor.js';

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
}

/** One input or output of a session. `shape` holds numbers for fixed dims and strings for symbolic ones. */
export interface ValueInfo {
  readonly name: string;
  /** Element type (`float32`, `int64`, …); `undefined` for non-tensor values. */
  readonly type: string | undefined;
  readonly shape: readonly (number | string)[];
}

/** A live session: plain metadata; the ORT object stays inside this module. */
export interface OnnxSession {
  readonly path: string;
  readonly device: ResolvedDevice;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

const live = new WeakMap<OnnxSession, ort.InferenceSession>();

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
  return values.map((v) =>
    v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name, type: undefined, shape: [] },
  );
}

async function open(path: string, device: ResolvedDevice, threads: number | undefined): Promise<ort.InferenceSession> {
  // Severity 3 (errors): graph-optimizer notes such as removed initializers are not for users.
  const options: ort.InferenceSession.SessionOptions = { executionProviders: [...EXECUTION_PROVIDERS[device]], logSeverityLevel: 3 };
  if (threads !== undefined) options.intraOpNumThreads = threads;
  return ort.InferenceSession.create(path, options);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Create a session for an .onnx file (external `model.onnx_data` weights are found next to it).
 * @throws UnsupportedDeviceError for an unknown device.
 * @throws ModelLoadError DEVICE_UNAVAILABLE when `cuda` is asked for and cannot be used;
 *   ONNX_INVALID (naming the file) when the file is not a loadable model.
 */
export async function createSession(path: string, options: SessionOptions = {}): Promise<OnnxSession> {
  const device = parseDevice(options.device ?? 'auto');
  const logger = options.logger ?? silentLogger;
  let inner: ort.InferenceSession | undefined;
  let resolved: ResolvedDevice = 'cpu';

  if (device === 'cuda') {
    try {
      inner = await open(path, 'cuda', options.intraOpNumThreads);
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
        inner = await open(path, 'cuda', options.intraOpNumThreads);
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
  inner ??= await openCpu(path, options.intraOpNumThreads);

  const session: OnnxSession = {
    path,
    device: resolved,
    inputs: metadata(inner.inputMetadata),
    outputs: metadata(inner.outputMetadata),
  };
  live.set(session, inner);
  return session;
}

async function openCpu(path: string, threads: number | undefined): Promise<ort.InferenceSession> {
  try {
    return await open(path, 'cpu', threads);
  } catch (error) {
    throw new ModelLoadError('ONNX_INVALID', path, `${path}: not a loadable ONNX model (${message(error)})`, { cause: error });
  }
}

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.type, t.data, [...t.dims]);
}

function fromOrt(name: string, path: string, t: ort.Tensor): Tensor {
  const type = t.type as TensorType;
  if (!['float32', 'float16', 'int64', 'int32', 'uint8', 'bool'].includes(type)) {
    throw new ModelRunError(path, `${path}: output "${name}" has unsupported element type ${t.type}`, undefined);
  }
  // CPU tensors own a JS typed array; keeping the reference past dispose() is safe (dispose drops ORT's).
  return { type, dims: [...t.dims], data: t.data as TensorDataMap[typeof type] };
}

/**
 * Run a session. Feeds and fetched outputs are disposed here; returned tensors are plain.
 * @throws ModelRunError (naming the file) when ORT rejects the feeds or fails while running.
 * @throws Error when the session was already released.
 */
export async function runSession(
  session: OnnxSession,
  feeds: Readonly<Record<string, Tensor>>,
  outputNames?: readonly string[],
): Promise<Record<string, Tensor>> {
  const inner = live.get(session);
  if (inner === undefined) throw new Error(`${session.path}: session was released`);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
  let results: ort.InferenceSession.ReturnType | undefined;
  try {
    results = outputNames === undefined ? await inner.run(ortFeeds) : await inner.run(ortFeeds, [...outputNames]);
    const out: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(name, session.path, value as ort.Tensor);
    return out;
  } catch (error) {
    if (error instanceof ModelRunError) throw error;
    throw new ModelRunError(session.path, `${session.path}: run failed (${message(error)})`, error);
  } finally {
    for (const t of Object.values(ortFeeds)) t.dispose();
    if (results !== undefined) for (const t of Object.values(results)) (t as ort.Tensor).dispose();
  }
}

/** Release a session's native memory. Releasing twice is a no-op. */
export async function releaseSession(session: OnnxSession): Promise<void> {
  const inner = live.get(session);
  if (inner === undefined) return;
  live.delete(session);
  await inner.release();
}
