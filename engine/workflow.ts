// The workflow file, version 2: the one shape shared by the editor, the CLI and the API.

export const WORKFLOW_FORMAT = 'skyloom-workflow';
export const WORKFLOW_VERSION = 2;

/** A link to the named output of another node. */
export interface Link {
  node: string;
  output: string;
}

export type ParamValue = string | number | boolean;

/**
 * How a node takes part in a run (version 2). Absent: it runs. `bypass`: it does not run and each
 * output passes on the value of its first linked input of the same socket type. `mute`: it does
 * not run, and neither does anything that needs it.
 */
export type NodeMode = 'bypass' | 'mute';

export interface WorkflowNode {
  id: string;
  type: string;
  typeVersion?: number;
  title?: string;
  params?: Record<string, ParamValue>;
  /** Links into this node, by input name (or by param name, for a param fed from a link). */
  inputs?: Record<string, Link>;
  position?: [number, number];
  mode?: NodeMode;
}

export interface WorkflowGroup {
  title: string;
  nodes: string[];
  color?: string;
}

export interface WorkflowModelRef {
  name: string;
  version?: string;
  sha256?: string;
}

export interface Workflow {
  format: typeof WORKFLOW_FORMAT;
  /** Written files may carry an older version; validation migrates them to WORKFLOW_VERSION. */
  version: 1 | typeof WORKFLOW_VERSION;
  title?: string;
  description?: string;
  nodes: WorkflowNode[];
  groups?: WorkflowGroup[];
  models?: WorkflowModelRef[];
  extra?: Record<string, unknown>;
}

/** Escapes one segment of a JSON pointer (RFC 6901). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => `/${pointerSegment(s)}`).join('');
}
