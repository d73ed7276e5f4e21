// The node contract: socket types, parameter specs, node definitions and the context a node runs in.

import type { Estimator } from './admission.js';
import type { Workflow } from './workflow.js';

/**
 * Socket types name what flows along a link. Built-in names are listed for editors and docs;
 * node packs may use their own upper-case names. `*` accepts anything.
 */
export type SocketType = 'TEXT' | 'INT' | 'FLOAT' | 'BOOLEAN' | 'CONDITIONING' | 'MODEL' | 'LATENT' | 'VIDEO' | 'IMAGE' | 'UPSCALER' | '*' | (string & {});

export type ParamKind = 'int' | 'float' | 'string' | 'boolean' | 'enum' | 'seed';

interface ParamBase<K extends ParamKind, V> {
  kind: K;
  default: V;
  description?: string;
  /** The widget's label in editors; default the param's name. */
  label?: string;
  /** The param is read only while another enum param has this value (editors disable it otherwise). */
  usedWhen?: { param: string; equals: string };
}

export interface IntParam extends ParamBase<'int', number> {
  min?: number;
  max?: number;
  step?: number;
}
export interface FloatParam extends ParamBase<'float', number> {
  min?: number;
  max?: number;
  step?: number;
}
export interface StringParam extends ParamBase<'string', string> {
  multiline?: boolean;
  /** The string names an input file of this kind (editors offer upload, a picker and a thumbnail). */
  file?: 'image' | 'video';
}
export type BooleanParam = ParamBase<'boolean', boolean>;
export interface EnumParam extends ParamBase<'enum', string> {
  choices: readonly string[];
}
/** An integer seed in [0, 2^53 - 1]; editors offer "randomize". */
export type SeedParam = ParamBase<'seed', number>;

export type ParamSpec = IntParam | FloatParam | StringParam | BooleanParam | EnumParam | SeedParam;

/** The socket type a param takes when it is fed from a link instead of a widget. */
export const PARAM_SOCKET: Record<ParamKind, SocketType> = {
  int: 'INT',
  float: 'FLOAT',
  string: 'TEXT',
  boolean: 'BOOLEAN',
  enum: 'TEXT',
  seed: 'INT',
};

export interface InputSpec {
  type: SocketType;
  optional?: boolean;
  description?: string;
}

export interface OutputSpec {
  type: SocketType;
  description?: string;
}

export interface NodeFlags {
  /** An output node is a sink: plans start from output nodes when no targets are given. */
  output?: boolean;
  /** A node that is not idempotent (reads the outside world, draws randomness) always runs. */
  idempotent?: boolean;
}

/** What a live preview carries: RGB24 frames packed one after another. */
export interface Preview {
  format: 'rgb24';
  width: number;
  height: number;
  frameCount: number;
  fps?: number;
  data: Uint8Array;
}

/** A file an output node wrote, reported to the CLI, the server and the editor. */
export interface OutputFile {
  path: string;
  kind: 'video' | 'image' | 'text' | 'file';
  mime?: string;
}

/** What an output node shows the user; carried by `executed` events and kept with cached results. */
export interface UiOutput {
  files?: OutputFile[];
  values?: Record<string, unknown>;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * What the host (the CLI, the server, a worker) gives every node of a run: device policy, the
 * session cache, model search paths. The engine knows nothing of them; the node families declare
 * their members by declaration merging on this interface (see nodes/services.ts).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NodeServices {}

export interface NodeContext {
  readonly nodeId: string;
  readonly promptId: string;
  /** The workflow being run, as validated (output nodes embed it in the files they write). */
  readonly workflow: Workflow;
  readonly signal: AbortSignal;
  /**
   * Reports progress; also a cancellation checkpoint: it throws `Cancelled` once the run is aborted.
   * @throws Cancelled
   */
  progress(step: number, total: number, preview?: Preview): void;
  /** Reports what an output node produced (files, values). */
  output(ui: UiOutput): void;
  /**
   * Tells the user what the node could not do as asked (words the model ignores, a setting it
   * overrode): an `execution_warning` event the CLI prints, the server sends and keeps in the
   * history, and the editor shows on the node. Kept with the cached result and repeated on a hit.
   */
  warn(message: string): void;
  readonly log: Logger;
  /** The host's services (see {@link NodeServices}). */
  readonly services: NodeServices;
  /** Where output nodes write their files. */
  readonly outputDir: string;
  /** Where relative input paths (load-video, load-image) are resolved: the cwd, or the server's uploads. */
  readonly inputDir: string;
  /** When true, input paths must stay inside `inputDir` (a server must not read arbitrary files). */
  readonly confineInputs: boolean;
  /** Scratch space for this run (large intermediate values such as frame stores). */
  readonly tempDir: string;
}

export type NodeOutputs = Record<string, unknown>;

/**
 * The value each socket type carries into `run`. The engine knows the primitive ones; layers that
 * own richer values (VIDEO, MODEL, LATENT, ...) add them by declaration merging:
 * `declare module 'skyloom' { interface SocketValueTypes { MY_TYPE: MyValue } }`.
 * A socket type nobody declared carries `unknown`.
 */
export interface SocketValueTypes {
  TEXT: string;
  INT: number;
  FLOAT: number;
  BOOLEAN: boolean;
  '*': unknown;
}

/** The value a socket of type `T` carries. */
export type SocketValue<T> = T extends keyof SocketValueTypes ? SocketValueTypes[T] : unknown;

/** The value a param of spec `P` has in `run` (an enum's is the union of its choices). */
export type ParamValueOf<P> = P extends { kind: 'int' | 'float' | 'seed' }
  ? number
  : P extends { kind: 'string' }
    ? string
    : P extends { kind: 'boolean' }
      ? boolean
      : P extends { kind: 'enum'; choices: readonly (infer C extends string)[] }
        ? C
        : unknown;

type SocketOf<S> = S extends { type: infer T } ? T : never;

/** The linked inputs `run` receives: an optional input may be `undefined`. */
export type InputValues<I> = {
  -readonly [K in keyof I]: I[K] extends { optional: true } ? SocketValue<SocketOf<I[K]>> | undefined : SocketValue<SocketOf<I[K]>>;
};

/** The params `run` receives: every param has a value (its default when the workflow leaves it out). */
export type ParamValues<P> = { -readonly [K in keyof P]: ParamValueOf<P[K]> };

/** What `run` receives: typed from the declaration, or a plain record for the erased definition. */
export type RunInputs<I, P> = string extends keyof I | keyof P ? Record<string, unknown> : InputValues<I> & ParamValues<P>;

/** The outputs `run` returns, by the socket types the definition declares. */
export type OutputValues<O> = { -readonly [K in keyof O]: SocketValue<SocketOf<O[K]>> };

export interface CheckProblem {
  param?: string;
  message: string;
}

/** Who sent the workflow being checked, for checks that depend on it. */
export interface CheckEnv {
  /**
   * The workflow came from a remote client (a server): a param naming a server path outside the
   * data folders (a model folder) is refused, and messages name no server path.
   */
  confinePaths: boolean;
  /** Models must be installed here (false when other processes, with their own models, run it). */
  localModels: boolean;
  /**
   * The services the host will give the run (model search paths, ...), so a check looks where the
   * run will look; absent, a check takes the process defaults.
   */
  services?: NodeServices;
}

/**
 * A node: a description plus one function. The type parameters are the declared inputs, params
 * and outputs; {@link defineNode} infers them, so `run` sees typed values. Without them it is the
 * erased form registries and executors hold.
 */
export interface NodeDefinition<
  I extends Record<string, InputSpec> = Record<string, InputSpec>,
  P extends Record<string, ParamSpec> = Record<string, ParamSpec>,
  O extends Record<string, OutputSpec> = Record<string, OutputSpec>,
> {
  type: string;
  version: number;
  category: string;
  description: string;
  /** Display name; the `type` is the stable key (never the display name). */
  displayName?: string;
  /** Other names artists search for it by (the ComfyUI names they know: "ksampler", "checkpoint"). */
  aliases?: readonly string[];
  inputs?: I;
  params?: P;
  outputs?: O;
  flags?: NodeFlags;
  // Method syntax on purpose: a typed definition must stay assignable to the erased one.
  /**
   * For idempotent nodes that read the outside world (a file): a fingerprint of that world, mixed
   * into the cache key, so the node re-runs when the world changed and not otherwise.
   */
  fingerprint?(params: ParamValues<P>): string | Promise<string>;
  /**
   * Checks made at validation time that need more than ranges: a model or file that must exist.
   * Each problem names the param at fault. Runs only when every param passed the range checks.
   */
  check?(params: ParamValues<P>, env: CheckEnv): CheckProblem[] | Promise<CheckProblem[]>;
  /**
   * What a host must offer to run this node with these params, as capability strings
   * (`model:<name>`, `device:cuda`). A queue routes prompts by them to workers that announce
   * them; a host that only queues (the workers run the nodes) checks such nodes with
   * `env.localModels` false.
   */
  requires?(params: ParamValues<P>): string[];
  /**
   * Admission control: the node's cost and the estimated values of its outputs, from its params
   * and the estimates of its inputs (engine/admission.ts). Checked against the host's limits
   * before a prompt is queued; a node without one costs nothing there and passes nothing on.
   */
  estimate?: Estimator;
  /** Runs the node. Inputs hold linked inputs and all params (linked or from widgets). */
  run(inputs: RunInputs<I, P>, ctx: NodeContext): OutputValues<O> | void | Promise<OutputValues<O> | void>;
}

/** The catalog entry of a node: plain JSON the server sends to the editor. */
export interface NodeCatalogEntry {
  type: string;
  version: number;
  displayName: string;
  aliases?: string[];
  category: string;
  description: string;
  inputs: Array<{ name: string } & InputSpec>;
  params: Array<{ name: string; socket: SocketType } & ParamSpec>;
  outputs: Array<{ name: string } & OutputSpec>;
  flags: Required<NodeFlags>;
}
