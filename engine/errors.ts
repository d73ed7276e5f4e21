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

function formatIssues(issues: ValidationIssue[]): string {
  const head = issues.length === 1 ? 'The workflow has 1 error' : `The workflow has ${issues.length} errors`;
  const lines = issues.map((i) => `  - ${i.nodeId ? `node "${i.nodeId}" ` : ''}at ${i.pointer || '/'}: ${i.message}`);
  return [`${head}:`, ...lines].join('\n');
}
