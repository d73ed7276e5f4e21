// Workflow validation: JSON Schema first (ajv), then the graph's meaning against the node registry.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { distance } from 'fastest-levenshtein';
import { WorkflowValidationError, type ValidationIssue } from './errors.js';
import { migrateWorkflow } from './migrate.js';
import type { NodeRegistry } from './registry.js';
import { PARAM_SOCKET, type CheckEnv, type NodeDefinition, type ParamSpec, type SocketType } from './types.js';
import { pointer, WorkflowSchema, type Link, type NodeMode, type ParamValue, type Workflow, type WorkflowNode } from './workflow.js';

export interface ResolvedNode {
  id: string;
  /** Index in the workflow's `nodes` array (for JSON pointers). */
  index: number;
  type: string;
  typeVersion: number;
  definition: NodeDefinition;
  /** Every param not fed from a link, with defaults filled in. */
  params: Record<string, ParamValue>;
  /** Links into the node: inputs, and params fed from a link (through bypassed nodes to what they pass on). */
  links: Record<string, Link>;
}

export interface ValidatedWorkflow {
  workflow: Workflow;
  /** The nodes that may run: muted and bypassed nodes are left out (links go around bypassed ones). */
  nodes: Map<string, ResolvedNode>;
  /**
   * Problems that do not stop a run: nodes that feed no output (or none of the targets) do not
   * run, so they are listed here, with any problem of their own, instead of failing the workflow.
   */
  warnings: ValidationIssue[];
  /** Set when the file was written in an older format version and upgraded. */
  migratedFrom?: number;
}

let schemaValidator: ValidateFunction | undefined;

/** The compiled workflow schema ({@link WorkflowSchema}). */
function workflowSchemaValidator(): ValidateFunction {
  schemaValidator ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(WorkflowSchema);
  return schemaValidator;
}

export interface ValidateOptions {
  /** The nodes a run asks for; default every output node. Only what they need must be valid. */
  targets?: readonly string[];
  /** What the host lets node checks do (confined paths, local models); default: an unconfined local host. */
  env?: CheckEnv;
}

/**
 * Migrates a parsed document (any version) and checks it against the format's schema only; node
 * types are not looked at (a library may keep a workflow whose node pack is not loaded now).
 * @returns the document at the current version, and the version it was upgraded from
 * @throws WorkflowValidationError listing every schema problem with its JSON pointer
 */
export function checkWorkflowSchema(input: unknown): { workflow: Workflow; migratedFrom?: number } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new WorkflowValidationError([{ code: 'not_an_object', pointer: '', message: 'A workflow must be a JSON object' }]);
  }
  const { doc, migratedFrom } = migrateWorkflow(input as Record<string, unknown>);
  const validate = workflowSchemaValidator();
  if (!validate(doc)) throw new WorkflowValidationError(schemaIssues(validate.errors ?? [], doc));
  const workflow = doc as unknown as Workflow;
  return migratedFrom === undefined ? { workflow } : { workflow, migratedFrom };
}

/**
 * Validates a parsed workflow document (any version) against the schema and the registry. Like a
 * run, it judges what the output nodes (or the targets) need: a node that feeds none of them
 * does not run, so it and its problems are warnings. A workflow without any output node keeps
 * every problem an error.
 * @returns the migrated workflow with every node resolved to its definition and full params
 * @throws WorkflowValidationError listing every problem found, each with node id and JSON pointer
 */
export async function validateWorkflow(input: unknown, registry: NodeRegistry, options: ValidateOptions = {}): Promise<ValidatedWorkflow> {
  const { workflow, migratedFrom } = checkWorkflowSchema(input);
  const issues: ValidationIssue[] = [];
  const nodes = resolveNodes(workflow, registry, issues);
  checkLinks(workflow, nodes, issues);
  checkCycles(nodes, issues);
  await runChecks(nodes, issues, options.env ?? { confinePaths: false, localModels: true });
  applyModes(workflow, nodes, issues);
  const { errors, warnings } = splitByNeed(workflow, registry, issues, options.targets);
  if (errors.length > 0) throw new WorkflowValidationError(errors);
  return migratedFrom === undefined ? { workflow, nodes, warnings } : { workflow, nodes, warnings, migratedFrom };
}

/**
 * The ids of every node the roots need (the targets, else every output node), walking the links
 * as written; undefined when there is no root, so nothing can be judged unneeded.
 */
export function neededNodes(workflow: Workflow, registry: NodeRegistry, targets?: readonly string[]): Set<string> | undefined {
  const byId = new Map<string, WorkflowNode>();
  for (const n of workflow.nodes) if (!byId.has(n.id)) byId.set(n.id, n);
  const roots =
    targets && targets.length > 0 ? targets.filter((t) => byId.has(t)) : workflow.nodes.filter((n) => registry.get(n.type)?.flags?.output && n.mode === undefined).map((n) => n.id);
  if (roots.length === 0) return undefined;
  const needed = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    // A muted node never runs: what it would need is not needed (its consumers get an error).
    if (needed.has(id) || byId.get(id)?.mode === 'mute') continue;
    needed.add(id);
    for (const link of Object.values(byId.get(id)?.inputs ?? {})) if (byId.has(link.node)) stack.push(link.node);
  }
  return needed;
}

function splitByNeed(
  workflow: Workflow,
  registry: NodeRegistry,
  issues: ValidationIssue[],
  targets?: readonly string[],
): { errors: ValidationIssue[]; warnings: ValidationIssue[] } {
  const needed = neededNodes(workflow, registry, targets);
  if (!needed) return { errors: issues, warnings: [] };
  const errors: ValidationIssue[] = [];
  const warnings: ValidationIssue[] = [];
  const why = targets && targets.length > 0 ? `is not needed by ${targets.map((t) => `"${t}"`).join(', ')}` : 'feeds no output node';
  const seen = new Set<string>();
  const resting = new Set<string>();
  workflow.nodes.forEach((n, index) => {
    if (n.mode !== undefined) resting.add(n.id);
    if (needed.has(n.id) || seen.has(n.id) || n.mode !== undefined) return;
    seen.add(n.id);
    warnings.push({ code: 'unused_node', nodeId: n.id, pointer: pointer('nodes', index), message: `Node "${n.id}" ${why}, so it does not run` });
  });
  for (const issue of issues) {
    // A muted or bypassed node does not run, so its own problems cannot stop a run.
    if (issue.nodeId !== undefined && (!needed.has(issue.nodeId) || resting.has(issue.nodeId))) warnings.push(issue);
    else errors.push(issue);
  }
  return { errors, warnings };
}

function schemaIssues(errors: ErrorObject[], doc: Record<string, unknown>): ValidationIssue[] {
  const nodes = Array.isArray(doc.nodes) ? (doc.nodes as Array<Record<string, unknown>>) : [];
  const seen = new Set<string>();
  const issues: ValidationIssue[] = [];
  for (const e of errors) {
    const where = e.instancePath;
    const match = /^\/nodes\/(\d+)/.exec(where);
    const nodeId = match ? nodes[Number(match[1])]?.id : undefined;
    let message: string;
    if (e.keyword === 'additionalProperties') {
      message = `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    } else if (e.keyword === 'required') {
      message = `missing required property "${(e.params as { missingProperty: string }).missingProperty}"`;
    } else if (e.keyword === 'const') {
      message = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    } else if (e.keyword === 'pattern' && where.endsWith('/id')) {
      message = 'node ids start with a letter or underscore and contain only letters, digits, "_" and "-"';
    } else {
      message = e.message ?? 'is invalid';
    }
    const issue: ValidationIssue = { code: 'schema', pointer: where, message: `${where || 'the document'} ${message}` };
    if (typeof nodeId === 'string') issue.nodeId = nodeId;
    const key = `${issue.pointer}|${issue.message}`;
    if (!seen.has(key)) issues.push(issue);
    seen.add(key);
  }
  return issues;
}

/** Names every plain object already answers to (`__proto__`, `constructor`, `toString`, …): never ids or param names. */
const RESERVED_NAMES = new Set(['__proto__', 'prototype', ...Object.getOwnPropertyNames(Object.prototype)]);

function resolveNodes(workflow: Workflow, registry: NodeRegistry, issues: ValidationIssue[]): Map<string, ResolvedNode> {
  const nodes = new Map<string, ResolvedNode>();
  workflow.nodes.forEach((node, index) => {
    const at = (...rest: Array<string | number>) => pointer('nodes', index, ...rest);
    if (nodes.has(node.id)) {
      issues.push({
        code: 'duplicate_id',
        nodeId: node.id,
        pointer: at('id'),
        message: `Node id "${node.id}" is used by more than one node (first at /nodes/${nodes.get(node.id)!.index})`,
      });
      return;
    }
    if (RESERVED_NAMES.has(node.id)) {
      // `outputs[id] = …` on a plain object would set its prototype (`__proto__`) or shadow a method.
      issues.push({
        code: 'reserved_id',
        nodeId: node.id,
        pointer: at('id'),
        message: `Node id "${node.id}" is a name JavaScript objects reserve; choose another id`,
      });
      return;
    }
    const definition = registry.get(node.type);
    if (!definition) {
      const near = registry.nearest(node.type);
      issues.push({
        code: 'unknown_node_type',
        nodeId: node.id,
        pointer: at('type'),
        message: `Unknown node type "${node.type}"` + (near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : '; a node pack may be missing (--nodes)'),
      });
      return;
    }
    const typeVersion = node.typeVersion ?? definition.version;
    if (typeVersion > definition.version) {
      issues.push({
        code: 'unsupported_node_version',
        nodeId: node.id,
        pointer: at('typeVersion'),
        message: `Node type "${node.type}" version ${typeVersion} is newer than the installed version ${definition.version}`,
      });
    }
    nodes.set(node.id, {
      id: node.id,
      index,
      type: node.type,
      typeVersion,
      definition,
      params: resolveParams(node, index, definition, issues),
      links: { ...(node.inputs ?? {}) },
    });
  });
  return nodes;
}

function resolveParams(node: WorkflowNode, index: number, definition: NodeDefinition, issues: ValidationIssue[]): Record<string, ParamValue> {
  const specs = definition.params ?? {};
  const given = node.params ?? {};
  const linked = node.inputs ?? {};
  const out: Record<string, ParamValue> = {};
  for (const name of Object.keys(given)) {
    // Own keys only: `constructor` or `toString` is "in" every object.
    if (!Object.hasOwn(specs, name)) {
      const near = nearestName(name, Object.keys(specs));
      issues.push({
        code: 'unknown_param',
        nodeId: node.id,
        pointer: pointer('nodes', index, 'params', name),
        message: `Node type "${node.type}" has no param "${name}"` + (near ? `; did you mean "${near}"?` : `; its params are: ${Object.keys(specs).join(', ') || 'none'}`),
      });
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (Object.hasOwn(linked, name)) continue;
    const value = Object.hasOwn(given, name) ? given[name] : spec.default;
    const problem = checkParamValue(spec, value);
    if (problem) {
      issues.push({
        code: problem.code,
        nodeId: node.id,
        pointer: pointer('nodes', index, 'params', name),
        message: `Param "${name}" ${problem.message}`,
      });
    }
    out[name] = value;
  }
  return out;
}

/** Checks one param value against its spec; returns what is wrong, or undefined. */
function checkParamValue(spec: ParamSpec, value: unknown): { code: string; message: string } | undefined {
  const wrongType = (expected: string) => ({
    code: 'param_type',
    message: `must be ${expected}, got ${JSON.stringify(value)} (${typeof value})`,
  });
  switch (spec.kind) {
    case 'int':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrongType(spec.kind === 'int' ? 'an integer' : 'a number');
      if (spec.kind === 'int' && !Number.isInteger(value)) return wrongType('an integer');
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        return { code: 'param_range', message: `is ${value}, outside ${rangeText(spec.min, spec.max)}` };
      }
      // An int's step is a rule (sizes on a 16-pixel grid); a float's is only how far a widget moves.
      if (spec.kind === 'int' && spec.step !== undefined && spec.step > 1 && (value - (spec.min ?? 0)) % spec.step !== 0) {
        const base = spec.min ?? 0;
        const below = base + Math.floor((value - base) / spec.step) * spec.step;
        const near = [below, below + spec.step].filter((v) => (spec.min === undefined || v >= spec.min) && (spec.max === undefined || v <= spec.max));
        const tryText = near.length > 0 ? ` (try ${near.join(' or ')})` : '';
        return { code: 'param_step', message: `is ${value}, not on its steps of ${spec.step}${spec.min ? ` from ${spec.min}` : ''}${tryText}` };
      }
      return undefined;
    }
    case 'seed':
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType('an integer seed');
      if (value < 0 || !Number.isSafeInteger(value)) return { code: 'param_range', message: `is ${value}, outside 0 to 9007199254740991` };
      return undefined;
    case 'string':
      return typeof value === 'string' ? undefined : wrongType('a string');
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrongType('true or false');
    case 'enum':
      if (typeof value !== 'string') return wrongType('a string');
      if (!spec.choices.includes(value)) {
        return {
          code: 'param_choice',
          message: `is "${value}", not one of: ${spec.choices.map((c) => `"${c}"`).join(', ')}`,
        };
      }
      return undefined;
  }
}

function rangeText(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `the range ${min} to ${max}`;
  return min !== undefined ? `the range >= ${min}` : `the range <= ${max}`;
}

function nearestName(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const n of names) {
    const d = distance(name.toLowerCase(), n.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  return best;
}

function compatible(from: SocketType, to: SocketType): boolean {
  return from === to || from === '*' || to === '*';
}

function checkLinks(workflow: Workflow, nodes: Map<string, ResolvedNode>, issues: ValidationIssue[]): void {
  for (const node of nodes.values()) {
    const d = node.definition;
    const inputs = d.inputs ?? {};
    const params = d.params ?? {};
    for (const [name, link] of Object.entries(node.links)) {
      const at = pointer('nodes', node.index, 'inputs', name);
      const want: SocketType | undefined = Object.hasOwn(inputs, name) ? inputs[name]!.type : Object.hasOwn(params, name) ? PARAM_SOCKET[params[name]!.kind] : undefined;
      if (want === undefined) {
        const near = nearestName(name, [...Object.keys(inputs), ...Object.keys(params)]);
        issues.push({
          code: 'unknown_input',
          nodeId: node.id,
          pointer: at,
          message: `Node type "${node.type}" has no input "${name}"` + (near ? `; did you mean "${near}"?` : `; its inputs are: ${Object.keys(inputs).join(', ') || 'none'}`),
        });
        continue;
      }
      const source = nodes.get(link.node);
      if (!source) {
        const declared = workflow.nodes.some((n) => n.id === link.node);
        if (!declared) {
          issues.push({
            code: 'dangling_link',
            nodeId: node.id,
            pointer: at,
            message: `Input "${name}" links to node "${link.node}", which does not exist`,
          });
        }
        continue; // the source exists but is itself invalid; it has its own issue
      }
      const outputs = source.definition.outputs ?? {};
      const out = Object.hasOwn(outputs, link.output) ? outputs[link.output] : undefined;
      if (!out) {
        const names = Object.keys(source.definition.outputs ?? {});
        issues.push({
          code: 'unknown_output',
          nodeId: node.id,
          pointer: pointer('nodes', node.index, 'inputs', name, 'output'),
          message: `Input "${name}" links to output "${link.output}" of node "${link.node}" (${source.type}), which has outputs: ${names.join(', ') || 'none'}`,
        });
        continue;
      }
      if (!compatible(out.type, want)) {
        issues.push({
          code: 'type_mismatch',
          nodeId: node.id,
          pointer: at,
          message: `Input "${name}" takes ${want} but is linked to "${link.node}".${link.output}, which gives ${out.type}`,
        });
      }
    }
    for (const [name, spec] of Object.entries(inputs)) {
      if (!spec.optional && !Object.hasOwn(node.links, name)) {
        issues.push({
          code: 'missing_input',
          nodeId: node.id,
          pointer: pointer('nodes', node.index, 'inputs', name),
          message: `Required input "${name}" (${spec.type}) is not connected`,
        });
      }
    }
  }
}

/** Reports every strongly connected component with a cycle, naming all of its nodes (Tarjan). */
function checkCycles(nodes: Map<string, ResolvedNode>, issues: ValidationIssue[]): void {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  let counter = 0;
  const successorsOf = (id: string) =>
    Object.values(nodes.get(id)!.links)
      .map((l) => l.node)
      .filter((n) => nodes.has(n));

  for (const start of nodes.keys()) {
    if (index.has(start)) continue;
    // Iterative Tarjan: deep chains (thousands of nodes) must not overflow the call stack.
    const work: Array<{ id: string; next: string[]; i: number }> = [];
    const visit = (id: string) => {
      index.set(id, counter);
      low.set(id, counter);
      counter += 1;
      stack.push(id);
      onStack.add(id);
      work.push({ id, next: successorsOf(id), i: 0 });
    };
    visit(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (frame.i < frame.next.length) {
        const w = frame.next[frame.i++];
        if (!index.has(w)) visit(w);
        else if (onStack.has(w)) low.set(frame.id, Math.min(low.get(frame.id)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].id;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.id)!));
      }
      if (low.get(frame.id) === index.get(frame.id)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.id);
        const selfLoop = component.length === 1 && successorsOf(w).includes(w);
        if (component.length > 1 || selfLoop) {
          const members = component.sort((a, b) => nodes.get(a)!.index - nodes.get(b)!.index);
          const first = nodes.get(members[0])!;
          issues.push({
            code: 'cycle',
            nodeId: first.id,
            pointer: pointer('nodes', first.index, 'inputs'),
            message: `These nodes form a cycle: ${members.map((m) => `"${m}"`).join(', ')}; a workflow must be acyclic`,
          });
        }
      }
    }
  }
}

/**
 * Node modes: muted and bypassed nodes leave the runnable set; a link to a bypassed node's output
 * is moved to what that node passes on (its first linked input of the same socket type, through
 * chains of bypassed nodes); a link to a muted node, or to a bypassed output with nothing to pass
 * on, is an issue on the consumer.
 */
function applyModes(workflow: Workflow, nodes: Map<string, ResolvedNode>, issues: ValidationIssue[]): void {
  const modes = new Map<string, NodeMode>();
  for (const n of workflow.nodes) if (n.mode !== undefined) modes.set(n.id, n.mode);
  if (modes.size === 0) return;

  const outputType = (link: Link): SocketType | undefined => nodes.get(link.node)?.definition.outputs?.[link.output]?.type;
  /** Where a link really reads from, or why it cannot: following bypassed nodes to a running one. */
  const follow = (link: Link, seen: Set<string>): Link | { muted: string } | { nothing: string } => {
    const mode = modes.get(link.node);
    if (mode === undefined) return link;
    if (mode === 'mute') return { muted: link.node };
    if (seen.has(link.node)) return { nothing: link.node };
    seen.add(link.node);
    const source = nodes.get(link.node);
    const want = outputType(link);
    if (!source || want === undefined) return { nothing: link.node };
    const d = source.definition;
    const slots = [...Object.keys(d.inputs ?? {}), ...Object.keys(d.params ?? {})];
    for (const name of slots) {
      const l = source.links[name];
      if (!l) continue;
      const given = outputType(l);
      if (given !== undefined && (given === want || given === '*' || want === '*')) return follow(l, seen);
    }
    return { nothing: link.node };
  };

  for (const node of nodes.values()) {
    if (modes.has(node.id)) continue;
    for (const [name, link] of Object.entries(node.links)) {
      if (!modes.has(link.node)) continue;
      const at = pointer('nodes', node.index, 'inputs', name);
      const to = follow(link, new Set());
      if ('muted' in to) {
        issues.push({
          code: 'muted_input',
          nodeId: node.id,
          pointer: at,
          message: `Input "${name}" reads from "${to.muted}", which is muted; unmute it, bypass it, or mute this node too`,
        });
      } else if ('nothing' in to) {
        issues.push({
          code: 'bypass_no_passthrough',
          nodeId: node.id,
          pointer: at,
          message: `Input "${name}" reads "${link.node}".${link.output} (${outputType(link) ?? '?'}), but "${to.nothing}" is bypassed and has no linked input of that type to pass on`,
        });
      } else {
        node.links[name] = to;
      }
    }
  }
  for (const id of modes.keys()) nodes.delete(id);
}

async function runChecks(nodes: Map<string, ResolvedNode>, issues: ValidationIssue[], env: CheckEnv): Promise<void> {
  const failing = new Set(issues.map((i) => i.nodeId));
  for (const node of nodes.values()) {
    if (!node.definition.check || failing.has(node.id)) continue;
    for (const problem of await node.definition.check(node.params, env)) {
      issues.push({
        code: 'check_failed',
        nodeId: node.id,
        pointer: problem.param ? pointer('nodes', node.index, 'params', problem.param) : pointer('nodes', node.index),
        message: problem.message,
      });
    }
  }
}
