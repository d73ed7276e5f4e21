// The engine's error classes: every failure the engine reports is one of these, never a plain object.

/** One problem found in a workflow: where it is (node id and JSON pointer) and what is wrong. */
export interface ValidationIssue {
  /** Machine-readable kind, e.g. `unknown_node_type`, `missing_input`, `cycle`. */
  code: string;
  /** A sentence a user understands. */
  message: string;
  /** RFC 6901 pointer into the workflow document as the user wrote it (after migration). */
  pointer: string;
  /** The id of the node the problem is on, when there is one. */
  nodeId?: string;
}

/** Base class of every engine error; `code` is stable and machine-readable. */
export class EngineError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** A workflow that cannot run; carries every issue found, not only the first. */
export class WorkflowValidationError extends EngineError {
  readonly issues: ValidationIssue[];

  constructor(issues: ValidationIssue[]) {
    super('invalid_workflow', formatIssues(issues));
    this.name = 'WorkflowValidationError';
    this.issues = issues;
  }
}

/**
 * A valid workflow this host will not run: its estimated cost is over an operator limit. Each
 * issue (`over_limit`) names the node, the param's JSON pointer and the limit.
 */
export class AdmissionError extends WorkflowValidationError {
  constructor(issues: ValidationIssue[]) {
    super(issues);
    this.name = 'AdmissionError';
    Object.defineProperty(this, 'code', { value: 'over_limit' });
    this.message = this.message.replace(/^The workflow has (\d+) errors?:/, (_, n: string) => `The workflow is over ${n === '1' ? 'a limit' : `${n} limits`} of this server:`);
  }
}

/** A node threw while running; names the node and keeps the original error as `cause`. */
export class NodeExecutionError extends EngineError {
  readonly nodeId: string;
  readonly nodeType: string;

  constructor(nodeId: string, nodeType: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('node_failed', `Node "${nodeId}" (${nodeType}) failed: ${reason}`, { cause });
    this.name = 'NodeExecutionError';
    this.nodeId = nodeId;
    this.nodeType = nodeType;
  }
}

/**
 * What a node throws when its inputs or params cannot work together (an empty latent where
 * samples are needed, a size the model cannot make). The executor wraps it in a
 * {@link NodeExecutionError} naming the node; its `code` reaches the `execution_error` event.
 */
export class NodeInputError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_node_input', message, options);
    this.name = 'NodeInputError';
  }
}

/** The run was interrupted through its AbortSignal. */
export class Cancelled extends EngineError {
  /** The node that was running when the interrupt arrived, if any. */
  readonly nodeId?: string;

  constructor(message = 'Execution was interrupted', nodeId?: string) {
    super('interrupted', message);
    this.name = 'Cancelled';
    this.nodeId = nodeId;
  }
}

/**
 * How a failure ends, whatever reports it: `invalid` (the input was wrong: fix it and retry),
 * `failed` (a node failed while running), `interrupted` (cancelled), `internal` (a bug).
 * The CLI maps it to an exit code, the server to an HTTP status, the history to a state.
 */
export type Outcome = 'invalid' | 'failed' | 'interrupted' | 'internal';

/** An error as every host reports it: its outcome, its stable code, a sentence, and where. */
export interface ErrorReport {
  outcome: Outcome;
  code: string;
  message: string;
  issues?: ValidationIssue[];
  nodeId?: string;
  nodeType?: string;
}

/**
 * The one mapping from errors to outcomes. An error that is not an {@link EngineError} is a bug
 * (`internal`); once the run's signal is aborted, anything but a node's own failure counts as
 * the interruption it caused.
 */
export function describeError(error: unknown, context: { aborted?: boolean } = {}): ErrorReport {
  if (error instanceof Cancelled || (context.aborted && !(error instanceof NodeExecutionError))) {
    const report: ErrorReport = { outcome: 'interrupted', code: 'interrupted', message: error instanceof Error ? error.message : 'Execution was interrupted' };
    if (error instanceof Cancelled && error.nodeId) report.nodeId = error.nodeId;
    return report;
  }
  if (error instanceof NodeExecutionError) {
    return { outcome: 'failed', code: error.code, message: error.message, nodeId: error.nodeId, nodeType: error.nodeType };
  }
  if (error instanceof WorkflowValidationError) return { outcome: 'invalid', code: error.code, message: error.message, issues: error.issues };
  if (error instanceof EngineError) return { outcome: 'invalid', code: error.code, message: error.message };
  return { outcome: 'internal', code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

function formatIssues(issues: ValidationIssue[]): string {
  const head = issues.length === 1 ? 'The workflow has 1 error' : `The workflow has ${issues.length} errors`;
  const lines = issues.map((i) => `  - ${i.nodeId ? `node "${i.nodeId}" ` : ''}at ${i.pointer || '/'}: ${i.message}`);
  return [`${head}:`, ...lines].join('\n');
}
