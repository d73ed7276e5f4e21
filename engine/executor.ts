// The executor: runs a validated workflow's needed nodes in order, caching outputs by content key.

import { hash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OutputCache } from './cache.js';
import { Cancelled, EngineError, NodeExecutionError } from './errors.js';
import type { EventOf, ExecutionEvent, ExecutionListener } from './events.js';
import { planExecution } from './plan.js';
import type { NodeRegistry } from './registry.js';
import type { Logger, NodeContext, NodeServices, NodeOutputs, Preview, UiOutput } from './types.js';
import { validateWorkflow, type ResolvedNode, type ValidatedWorkflow, type ValidateOptions } from './validate.js';

export interface ExecutorOptions {
  /** Shared output cache; by default each executor has its own with `cacheBytes` of budget. */
  cache?: OutputCache;
  cacheBytes?: number;
  /** What the host gives every node (see {@link NodeServices}). */
  services?: NodeServices;
  log?: Logger;
  outputDir?: string;
  /** Where relative input paths resolve; default the working directory. */
  inputDir?: string;
  /** Refuse input paths outside `inputDir` (servers set this). */
  confineInputs?: boolean;
  /** Validation: refuse params naming server paths outside the data folders (default `confineInputs`). */
  confinePaths?: boolean;
  /** Validation: models must be installed here (default true; false when other processes run the prompts). */
  localModels?: boolean;
  tempDir?: string;
}

export interface RunOptions {
  promptId?: string;
  /** Node ids to compute; default: every output node. */
  targets?: readonly string[];
  signal?: AbortSignal;
  onEvent?: ExecutionListener;
}

export interface RunResult {
  promptId: string;
  /** What each output node produced, by node id (from this run or the cache). */
  outputs: Record<string, UiOutput>;
  /** Nodes that ran, in order. */
  executed: string[];
  /** Nodes whose outputs came from the cache. */
  cached: string[];
  ms: number;
}

const silentLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class Executor {
  readonly registry: NodeRegistry;
  readonly cache: OutputCache;
  readonly #options: ExecutorOptions;
  readonly #listeners = new Set<ExecutionListener>();

  constructor(registry: NodeRegistry, options: ExecutorOptions = {}) {
    this.registry = registry;
    this.cache = options.cache ?? new OutputCache(options.cacheBytes);
    this.#options = options;
  }

  /** What this executor gives every node (see {@link NodeServices}); admission estimates read them too. */
  get services(): NodeServices {
    return this.#options.services ?? {};
  }

  /** Subscribes to the events of every run; returns the unsubscribe function. */
  on(listener: ExecutionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @throws WorkflowValidationError */
  validate(workflow: unknown, options: ValidateOptions = {}): Promise<ValidatedWorkflow> {
    const o = this.#options;
    const env = options.env ?? { confinePaths: o.confinePaths ?? o.confineInputs ?? false, localModels: o.localModels ?? true, ...(o.services ? { services: o.services } : {}) };
    return validateWorkflow(workflow, this.registry, { ...options, env });
  }

  /**
   * Runs a workflow (a parsed document, validated here, or an already validated one).
   * @throws WorkflowValidationError before anything runs; NodeExecutionError when a node fails;
   *   Cancelled when the signal aborts the run
   */
  async run(workflow: unknown, options: RunOptions = {}): Promise<RunResult> {
    const validated = isValidated(workflow) ? workflow : await this.validate(workflow, options.targets ? { targets: options.targets } : {});
    const started = performance.now();
    const promptId = options.promptId ?? randomUUID();
    const signal = options.signal ?? new AbortController().signal;
    const emit = (event: ExecutionEvent) => {
      options.onEvent?.(event);
      for (const l of this.#listeners) l(event);
    };

    const { roots, order } = planExecution(validated, options.targets);
    const keys = await cacheKeys(validated, order);
    const { toRun, cachedNodes, uses } = prune(validated, roots, order, keys, this.cache);
    const values = new Map<string, NodeOutputs>();
    const uiById = new Map<string, UiOutput>();
    const cachedWarnings: Array<EventOf<'execution_warning'>['data']> = [];
    for (const id of cachedNodes) {
      const entry = this.cache.get(keys.get(id)!)!;
      values.set(id, entry.outputs);
      if (entry.ui) uiById.set(id, entry.ui);
      for (const message of entry.warnings ?? []) cachedWarnings.push({ promptId, nodeId: id, nodeType: validated.nodes.get(id)!.type, message });
    }

    emit({ type: 'execution_start', data: { promptId, timestamp: Date.now(), nodes: toRun } });
    if (cachedNodes.length > 0) emit({ type: 'execution_cached', data: { promptId, nodes: cachedNodes } });
    // A cached result still holds what its node could not do; the user hears it on every run.
    for (const data of cachedWarnings) emit({ type: 'execution_warning', data });

    const executed: string[] = [];
    for (const id of toRun) {
      const node = validated.nodes.get(id)!;
      if (signal.aborted) {
        emit({ type: 'execution_interrupted', data: { promptId, nodeId: id, executed } });
        throw new Cancelled('Execution was interrupted', id);
      }
      emit({ type: 'executing', data: { promptId, nodeId: id, nodeType: node.type } });
      const nodeStarted = performance.now();
      let ui: UiOutput | undefined;
      let outputs: NodeOutputs;
      const warnings: string[] = [];
      try {
        const ctx = this.#context(
          node,
          validated,
          promptId,
          signal,
          emit,
          (u) => {
            ui = mergeUi(ui, u);
          },
          warnings,
        );
        const result = await node.definition.run(gatherInputs(node, values), ctx);
        outputs = checkOutputs(node, result);
      } catch (cause) {
        if (signal.aborted || cause instanceof Cancelled) {
          emit({ type: 'execution_interrupted', data: { promptId, nodeId: id, executed } });
          throw cause instanceof Cancelled ? cause : new Cancelled('Execution was interrupted', id);
        }
        const error = new NodeExecutionError(id, node.type, cause);
        emit({
          type: 'execution_error',
          data: {
            promptId,
            nodeId: id,
            nodeType: node.type,
            code: cause instanceof EngineError ? cause.code : 'node_failed',
            message: error.message,
            cause: cause instanceof Error ? (cause.stack ?? cause.message) : String(cause),
            executed,
          },
        });
        throw error;
      }
      executed.push(id);
      values.set(id, outputs);
      if (ui) uiById.set(id, ui);
      this.cache.set(keys.get(id)!, outputs, ui, warnings);
      emit({
        type: 'executed',
        data: { promptId, nodeId: id, nodeType: node.type, ...(ui ? { ui } : {}), ms: performance.now() - nodeStarted },
      });
      // Drop run-local references once the last consumer has read them; the cache decides the rest.
      for (const link of Object.values(node.links)) {
        const left = (uses.get(link.node) ?? 0) - 1;
        uses.set(link.node, left);
        if (left <= 0) values.delete(link.node);
      }
    }

    const outputs: Record<string, UiOutput> = {};
    for (const id of order) if (uiById.has(id)) outputs[id] = uiById.get(id)!;
    const ms = performance.now() - started;
    emit({ type: 'execution_success', data: { promptId, timestamp: Date.now(), outputs, ms } });
    return { promptId, outputs, executed, cached: cachedNodes, ms };
  }

  #context(
    node: ResolvedNode,
    validated: ValidatedWorkflow,
    promptId: string,
    signal: AbortSignal,
    emit: (e: ExecutionEvent) => void,
    output: (ui: UiOutput) => void,
    warnings: string[],
  ): NodeContext {
    const base = this.#options.log ?? silentLog;
    const tag = `[${node.id}] `;
    return {
      nodeId: node.id,
      promptId,
      workflow: validated.workflow,
      signal,
      progress(step: number, total: number, preview?: Preview) {
        if (signal.aborted) throw new Cancelled('Execution was interrupted', node.id);
        emit({ type: 'progress', data: { promptId, nodeId: node.id, step, total } });
        if (preview) emit({ type: 'preview', data: { promptId, nodeId: node.id, step, total, preview } });
      },
      output,
      warn(message: string) {
        warnings.push(message);
        emit({ type: 'execution_warning', data: { promptId, nodeId: node.id, nodeType: node.type, message } });
      },
      log: {
        debug: (m) => base.debug(tag + m),
        info: (m) => base.info(tag + m),
        warn: (m) => base.warn(tag + m),
        error: (m) => base.error(tag + m),
      },
      services: this.#options.services ?? {},
      outputDir: resolve(this.#options.outputDir ?? 'output'),
      inputDir: resolve(this.#options.inputDir ?? '.'),
      confineInputs: this.#options.confineInputs ?? false,
      tempDir: this.#options.tempDir ?? join(tmpdir(), 'skyloom'),
    };
  }
}

function isValidated(value: unknown): value is ValidatedWorkflow {
  return typeof value === 'object' && value !== null && (value as ValidatedWorkflow).nodes instanceof Map;
}

/**
 * Cache key of each node: a hash of its type, type version, params, fingerprint and the keys of
 * the outputs it reads. A node that is not idempotent gets a fresh key every run, and so do its
 * descendants, because their keys include its key.
 */
async function cacheKeys(validated: ValidatedWorkflow, order: string[]): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  for (const id of order) {
    const node = validated.nodes.get(id)!;
    const d = node.definition;
    let links = '';
    for (const name of Object.keys(node.links).sort()) {
      const l = node.links[name];
      links += `${name}\u0000${keys.get(l.node)}\u0000${l.output}\u0000`;
    }
    const material = [
      node.type,
      node.typeVersion,
      JSON.stringify(sortedEntries(node.params)),
      links,
      d.fingerprint ? await d.fingerprint(node.params) : '',
      d.flags?.idempotent === false ? randomUUID() : '',
    ].join('\u0001');
    keys.set(id, hash('sha256', material, 'base64url'));
  }
  return keys;
}

function sortedEntries(record: Record<string, unknown>): Array<[string, unknown]> {
  return Object.keys(record)
    .sort()
    .map((k) => [k, record[k]]);
}

/**
 * Walks back from the roots: a cached node needs nothing upstream of it, so only nodes some
 * uncached node reads from are visited. Returns what runs (in plan order), what comes from the
 * cache, and how many runs read each node's outputs.
 */
function prune(
  validated: ValidatedWorkflow,
  roots: string[],
  order: string[],
  keys: Map<string, string>,
  cache: OutputCache,
): { toRun: string[]; cachedNodes: string[]; uses: Map<string, number> } {
  const visited = new Set<string>();
  const running = new Set<string>();
  const cached = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (visited.has(id)) continue;
    visited.add(id);
    if (cache.has(keys.get(id)!)) {
      cached.add(id);
      continue;
    }
    running.add(id);
    for (const link of Object.values(validated.nodes.get(id)!.links)) stack.push(link.node);
  }
  const uses = new Map<string, number>();
  for (const id of running) {
    for (const link of Object.values(validated.nodes.get(id)!.links)) uses.set(link.node, (uses.get(link.node) ?? 0) + 1);
  }
  return {
    toRun: order.filter((id) => running.has(id)),
    cachedNodes: order.filter((id) => cached.has(id)),
    uses,
  };
}

function gatherInputs(node: ResolvedNode, values: Map<string, NodeOutputs>): Record<string, unknown> {
  const inputs: Record<string, unknown> = { ...node.params };
  for (const [name, link] of Object.entries(node.links)) inputs[name] = values.get(link.node)![link.output];
  return inputs;
}

function checkOutputs(node: ResolvedNode, result: NodeOutputs | void): NodeOutputs {
  const declared = Object.keys(node.definition.outputs ?? {});
  const outputs = result ?? {};
  const missing = declared.filter((name) => !(name in outputs));
  if (missing.length > 0) {
    throw new EngineError('missing_output', `The node returned no value for output ${missing.map((m) => `"${m}"`).join(', ')}`);
  }
  return outputs;
}

function mergeUi(a: UiOutput | undefined, b: UiOutput): UiOutput {
  if (!a) return b;
  return {
    files: [...(a.files ?? []), ...(b.files ?? [])],
    values: { ...(a.values ?? {}), ...(b.values ?? {}) },
  };
}
