// `skyloom run`: loads a workflow file, applies --set overrides, runs it with progress, maps errors to exit codes.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import {
  describeError,
  EngineError,
  Executor,
  checkWorkflowSchema,
  preflight,
  validateWorkflow,
  type ExecutionEvent,
  type Logger,
  type NodeRegistry,
  type NodeServices,
  type Outcome,
  type ParamValue,
  type ValidatedWorkflow,
  type Workflow,
} from '../engine/index.js';
import { createModelHost } from '../nodes/services.js';

export const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

/** The exit code of each outcome of the engine's one error mapping ({@link describeError}). */
const OUTCOME_EXIT: Record<Outcome, number> = { invalid: EXIT.invalid, failed: EXIT.failed, interrupted: EXIT.interrupted, internal: EXIT.failed };

/** A CLI usage or input problem: exit code 2. */
export class UsageError extends EngineError {
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

/**
 * Reads and parses a workflow file (migration and validation are {@link validateWorkflow}'s).
 * @throws UsageError naming the path when it cannot be read or parsed
 */
export async function readWorkflowFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new UsageError(`Cannot read workflow file ${resolve(path)}: ${(cause as NodeJS.ErrnoException).code ?? cause}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new UsageError(`Workflow file ${resolve(path)} is not valid JSON: ${(cause as Error).message}`);
  }
}

/**
 * Applies `nodeId.param=value` overrides; values are coerced by the param's declared kind.
 * @throws UsageError for a malformed override or a node id not in the workflow
 */
export function applyOverrides(workflow: Workflow, sets: string[], registry: NodeRegistry): void {
  for (const set of sets) {
    const eq = set.indexOf('=');
    const dot = set.indexOf('.');
    if (eq < 0 || dot < 0 || dot > eq) throw new UsageError(`--set expects <nodeId>.<param>=<value>, got "${set}"`);
    const nodeId = set.slice(0, dot);
    const param = set.slice(dot + 1, eq);
    const raw = set.slice(eq + 1);
    const node = workflow.nodes.find((n) => n.id === nodeId);
    if (!node) {
      throw new UsageError(`--set ${set}: the workflow has no node "${nodeId}" (nodes: ${workflow.nodes.map((n) => n.id).join(', ')})`);
    }
    const spec = registry.get(node.type)?.params?.[param];
    let value: ParamValue = raw;
    if (spec && (spec.kind === 'int' || spec.kind === 'float' || spec.kind === 'seed')) {
      value = Number(raw);
      if (raw.trim() === '' || Number.isNaN(value)) throw new UsageError(`--set ${set}: "${raw}" is not a number`);
    } else if (spec?.kind === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new UsageError(`--set ${set}: expected true or false`);
      value = raw === 'true';
    }
    node.params = { ...(node.params ?? {}), [param]: value };
  }
}

export interface RunCommandOptions {
  set: string[];
  out: string;
  json: boolean;
  targets: string[];
}

/** Runs a workflow file; resolves to the process exit code. Never throws for expected failures. */
export async function runCommand(file: string, registry: NodeRegistry, opts: RunCommandOptions, services: NodeServices = { models: createModelHost() }): Promise<number> {
  const log = stderrLogger(opts.json);
  let validated: ValidatedWorkflow;
  try {
    // The file is migrated (once) and checked against the format before --set touches it, so
    // overrides meet a well-formed document; the whole workflow is then validated once, with the
    // values they set (an override may name the model a file's own value would not find).
    const { workflow, migratedFrom } = checkWorkflowSchema(await readWorkflowFile(file));
    if (migratedFrom !== undefined) log.info(`${file}: upgraded from workflow format version ${migratedFrom}`);
    applyOverrides(workflow, opts.set, registry);
    validated = await validateWorkflow(workflow, registry, { env: { confinePaths: false, localModels: true, services } });
    // What the estimates can tell now (a loop's context longer than the clip made for it) fails
    // here, before the nodes upstream of the problem spend their time.
    await preflight(validated, { services });
  } catch (error) {
    return reportFailure(error, opts.json);
  }

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    log.warn('Interrupting… (press Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const executor = new Executor(registry, { outputDir: resolve(opts.out), log, services });
  const progress = opts.json ? jsonEvents : terminalProgress();
  try {
    const result = await executor.run(validated, { signal: controller.signal, onEvent: progress.onEvent, targets: opts.targets });
    progress.stop();
    const files = Object.values(result.outputs).flatMap((ui) => ui.files ?? []);
    if (!opts.json) {
      for (const f of files) process.stdout.write(`${f.path}\n`);
      if (files.length === 0) log.info('Done; the workflow wrote no files.');
    }
    return EXIT.ok;
  } catch (error) {
    progress.stop();
    return reportFailure(error, opts.json);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Prints an error the way the user needs it and returns its exit code. */
export function reportFailure(error: unknown, json: boolean): number {
  const { outcome, ...data } = describeError(error);
  if (json) {
    process.stdout.write(`${JSON.stringify({ type: 'error', data })}\n`);
  } else {
    process.stderr.write(`${data.message}\n`);
    // A bug, not a user's mistake: the stack is what a report needs.
    if (outcome === 'internal' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  }
  return OUTCOME_EXIT[outcome];
}

interface ProgressSink {
  onEvent(event: ExecutionEvent): void;
  stop(): void;
}

/** Newline-delimited JSON on stdout; preview pixels are left out (their size and frame count stay). */
const jsonEvents: ProgressSink = {
  onEvent(event) {
    if (event.type === 'preview') {
      const { data, ...preview } = event.data.preview;
      const body = { type: event.type, data: { ...event.data, preview: { ...preview, bytes: data.byteLength } } };
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    process.stdout.write(`${JSON.stringify(event)}\n`);
  },
  stop() {},
};

/** A progress bar on a terminal; plain lines when stderr is not one (CI logs). */
function terminalProgress(): ProgressSink {
  const tty = Boolean(process.stderr.isTTY);
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: ' {bar} {percentage}% | node {node}/{nodes} {label} | step {step}/{steps}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let nodes = 0;
  let done = 0;
  let label = '';
  let started = 0;
  // Lines written under a live bar would be drawn over; on a terminal they wait for it to end.
  const held: string[] = [];
  const update = (step: number, steps: number) => {
    // The bar moves by node, and within a node by its steps.
    const fraction = nodes === 0 ? 1 : (done + (steps > 0 ? step / steps : 0)) / nodes;
    bar?.update(Math.round(fraction * 1000), { node: Math.min(done + 1, nodes), nodes, label, step, steps });
  };
  return {
    onEvent(event) {
      switch (event.type) {
        case 'execution_start':
          nodes = event.data.nodes.length;
          bar?.start(1000, 0, { node: 0, nodes, label: '', step: 0, steps: 0 });
          break;
        case 'executing':
          label = `${event.data.nodeId} (${event.data.nodeType})`;
          started = performance.now();
          update(0, 0);
          break;
        case 'progress':
          update(event.data.step, event.data.total);
          break;
        case 'executed':
          done += 1;
          update(0, 0);
          if (!tty) process.stderr.write(`[${done}/${nodes}] ${label} ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
          break;
        case 'execution_warning': {
          const line = `warning: node ${event.data.nodeId}: ${event.data.message}\n`;
          if (tty) held.push(line);
          else process.stderr.write(line);
          break;
        }
        default:
          break;
      }
    },
    stop() {
      bar?.stop();
      for (const line of held.splice(0)) process.stderr.write(line);
    },
  };
}

function stderrLogger(json: boolean): Logger {
  const write = (level: string) => (message: string) => {
    if (json) process.stdout.write(`${JSON.stringify({ type: 'log', data: { level, message } })}\n`);
    else process.stderr.write(`${level === 'info' ? '' : `${level}: `}${message}\n`);
  };
  return { debug() {}, info: write('info'), warn: write('warn'), error: write('error') };
}
