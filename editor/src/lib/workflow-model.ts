// Owns editing a workflow document as plain data: nodes from catalog entries, links, removal, copy/paste, problems and layout.

import type { NodeCatalogEntry, ParamSpec } from '../../../engine/types.js';
import type { Link, ParamValue, Workflow, WorkflowGroup, WorkflowNode } from '../../../engine/workflow.js';
import { hashHue } from './sockets';
import { valueProblem } from './widgets';

/**
 * The format version the editor writes. The editor takes only types from the engine (its bundle
 * must not pull in the engine's schema code), so this is a literal checked against the engine's
 * type: when the engine's format version moves, this line stops compiling.
 */
export const WORKFLOW_VERSION: Workflow['version'] = 3;

export type Catalog = ReadonlyMap<string, NodeCatalogEntry>;
export type CatalogParam = NodeCatalogEntry['params'][number];

export function emptyWorkflow(title = 'Untitled'): Workflow {
  return { format: 'skyloom-workflow', version: WORKFLOW_VERSION, title, nodes: [], groups: [] };
}

/** A deep copy through JSON: workflow documents are plain JSON by contract. */
export function cloneDoc<T>(doc: T): T {
  return JSON.parse(JSON.stringify(doc)) as T;
}

/** An id for a new node of `type`: its type, then `-2`, `-3`... whichever is free. */
export function newNodeId(taken: Iterable<string>, type: string): string {
  const used = new Set(taken);
  const base = (type.includes('/') ? type.slice(type.lastIndexOf('/') + 1) : type).replace(/[^A-Za-z0-9_-]/g, '-') || 'node';
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}-${i}`)) return `${base}-${i}`;
}

/** A node of a catalog type with every param at its default. */
export function createNode(entry: NodeCatalogEntry, id: string, position: [number, number]): WorkflowNode {
  const params: Record<string, ParamValue> = {};
  for (const p of entry.params) params[p.name] = p.default;
  return { id, type: entry.type, typeVersion: entry.version, params, position: [Math.round(position[0]), Math.round(position[1])] };
}

export function paramValue(node: WorkflowNode, spec: CatalogParam): ParamValue {
  return node.params?.[spec.name] ?? spec.default;
}

/** The socket type an input slot of a node takes: a declared input, or a param fed from a link. */
export function inputType(entry: NodeCatalogEntry | undefined, name: string): string | undefined {
  if (!entry) return '*';
  return entry.inputs.find((i) => i.name === name)?.type ?? entry.params.find((p) => p.name === name)?.socket;
}

export function outputType(entry: NodeCatalogEntry | undefined, name: string): string | undefined {
  if (!entry) return '*';
  return entry.outputs.find((o) => o.name === name)?.type;
}

/** Links `from` into `to`'s input (an input holds one link; a new one replaces the old). */
export function setLink(doc: Workflow, to: string, input: string, from: Link): boolean {
  const node = doc.nodes.find((n) => n.id === to);
  if (!node) return false;
  const old = node.inputs?.[input];
  if (old && old.node === from.node && old.output === from.output) return false;
  node.inputs = { ...(node.inputs ?? {}), [input]: { node: from.node, output: from.output } };
  return true;
}

export function removeLink(doc: Workflow, to: string, input: string): boolean {
  const node = doc.nodes.find((n) => n.id === to);
  if (!node?.inputs?.[input]) return false;
  const { [input]: _removed, ...rest } = node.inputs;
  node.inputs = rest;
  if (Object.keys(rest).length === 0) delete node.inputs;
  return true;
}

/** Removes nodes, every link out of them and their group memberships (a group left empty goes too). */
export function removeNodes(doc: Workflow, ids: Iterable<string>): number {
  const gone = new Set(ids);
  const before = doc.nodes.length;
  doc.nodes = doc.nodes.filter((n) => !gone.has(n.id));
  for (const node of doc.nodes) {
    for (const [name, link] of Object.entries(node.inputs ?? {})) if (gone.has(link.node)) removeLink(doc, node.id, name);
  }
  if (doc.groups) {
    doc.groups = doc.groups.map((g) => ({ ...g, nodes: g.nodes.filter((id) => !gone.has(id)) })).filter((g) => g.nodes.length > 0);
  }
  return before - doc.nodes.length;
}

/** What Ctrl+C puts on the clipboard: the nodes and the links among them. */
export interface Fragment {
  kind: 'skyloom-fragment';
  nodes: WorkflowNode[];
}

export function copyFragment(doc: Workflow, ids: Iterable<string>): Fragment {
  const wanted = new Set(ids);
  const nodes = cloneDoc(doc.nodes.filter((n) => wanted.has(n.id)));
  for (const node of nodes) {
    for (const [name, link] of Object.entries(node.inputs ?? {})) {
      if (!wanted.has(link.node)) delete node.inputs![name];
    }
    if (node.inputs && Object.keys(node.inputs).length === 0) delete node.inputs;
  }
  return { kind: 'skyloom-fragment', nodes };
}

/**
 * Adds a fragment's nodes under fresh ids, its top-left corner at `at`, links among them kept.
 * @returns the new node ids
 */
export function pasteFragment(doc: Workflow, fragment: Fragment, at: [number, number]): string[] {
  const ids = new Map<string, string>();
  const taken = new Set(doc.nodes.map((n) => n.id));
  for (const n of fragment.nodes) {
    const id = newNodeId(taken, n.id.replace(/-\d+$/, ''));
    taken.add(id);
    ids.set(n.id, id);
  }
  const minX = Math.min(...fragment.nodes.map((n) => n.position?.[0] ?? 0));
  const minY = Math.min(...fragment.nodes.map((n) => n.position?.[1] ?? 0));
  for (const source of cloneDoc(fragment.nodes)) {
    const node: WorkflowNode = { ...source, id: ids.get(source.id)! };
    node.position = [Math.round(at[0] + (source.position?.[0] ?? 0) - minX), Math.round(at[1] + (source.position?.[1] ?? 0) - minY)];
    if (source.inputs) {
      node.inputs = Object.fromEntries(
        Object.entries(source.inputs)
          .filter(([, l]) => ids.has(l.node))
          .map(([name, l]) => [name, { node: ids.get(l.node)!, output: l.output }]),
      );
    }
    doc.nodes.push(node);
  }
  return [...ids.values()];
}

export function isFragment(value: unknown): value is Fragment {
  return !!value && typeof value === 'object' && (value as Fragment).kind === 'skyloom-fragment' && Array.isArray((value as Fragment).nodes);
}

export interface NodeProblem {
  /** The param or input at fault, when there is one. */
  slot?: string;
  message: string;
  /** Errors stop a run; warnings are advice (an input not connected yet). */
  level: 'error' | 'warning';
}

/** The names every model param may refer to: the workflow's model list plus what is installed. */
export function isModelParam(spec: CatalogParam, value: ParamValue, doc: Workflow, installed: readonly string[]): boolean {
  if (spec.kind !== 'string' || typeof value !== 'string' || value === '') return false;
  return (doc.models ?? []).some((m) => m.name === value) || installed.includes(value);
}

/**
 * What is wrong with a node as the editor sees it before a run: an unknown type, an unknown
 * param, a value outside its range, a model not installed, an input left unconnected.
 */
export function nodeProblems(node: WorkflowNode, entry: NodeCatalogEntry | undefined, doc: Workflow, installed: readonly string[] | undefined): NodeProblem[] {
  if (!entry) {
    return [{ level: 'error', message: `Unknown node type "${node.type}": no loaded node pack provides it. It is kept as it is.` }];
  }
  const problems: NodeProblem[] = [];
  const linked = node.inputs ?? {};
  for (const [name, value] of Object.entries(node.params ?? {})) {
    const spec = entry.params.find((p) => p.name === name);
    if (!spec) {
      problems.push({ level: 'error', slot: name, message: `"${entry.displayName}" has no param "${name}"` });
      continue;
    }
    if (name in linked) continue;
    const wrong = valueProblem(spec as ParamSpec, value);
    if (wrong) problems.push({ level: 'error', slot: name, message: `${spec.label ?? name} ${wrong}` });
    else if (installed && isModelParam(spec, value, doc, installed) && !installed.includes(value as string)) {
      problems.push({
        level: 'error',
        slot: name,
        message: `Model "${String(value)}" is not installed (installed: ${installed.join(', ') || 'none'})`,
      });
    }
  }
  for (const input of entry.inputs) {
    if (!input.optional && !(input.name in linked)) {
      problems.push({ level: 'warning', slot: input.name, message: `Input "${input.name}" (${input.type}) is not connected` });
    }
  }
  for (const [name, link] of Object.entries(linked)) {
    if (!doc.nodes.some((n) => n.id === link.node)) {
      problems.push({ level: 'error', slot: name, message: `Input "${name}" links to node "${link.node}", which does not exist` });
    }
  }
  return problems;
}

/** The workflow's model list rebuilt from the model params it uses now. */
export function modelList(doc: Workflow, catalog: Catalog, installed: readonly string[]): Workflow['models'] {
  const names = new Set<string>();
  for (const node of doc.nodes) {
    const entry = catalog.get(node.type);
    for (const spec of entry?.params ?? []) {
      if (node.inputs?.[spec.name]) continue;
      const v = paramValue(node, spec);
      if (isModelParam(spec, v, doc, installed)) names.add(v as string);
    }
  }
  const kept = new Map((doc.models ?? []).map((m) => [m.name, m]));
  return [...names].map((name) => kept.get(name) ?? { name });
}

/** Where a validation issue points: the node index and, when named, the param or input. */
export function issueSlot(pointer: string): { index?: number; slot?: string } {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts[0] !== 'nodes' || parts[1] === undefined) return {};
  const index = Number(parts[1]);
  const slot = (parts[2] === 'params' || parts[2] === 'inputs') && parts[3] !== undefined ? parts[3] : undefined;
  return { index: Number.isInteger(index) ? index : undefined, slot };
}

/** Room a group's box takes around its members (see GroupLayer): a title bar above, padding around. */
export const GROUP_BOX = { pad: 18, head: 30 };

/** A node's size on the canvas before it has been measured. */
export const DEFAULT_NODE_SIZE = { width: 250, height: 120 };

/**
 * The box of each group that has members, in canvas coordinates: around its members' measured
 * boxes, with the group's padding and title bar. `index` is the group's place in `doc.groups`;
 * `color` its own, or one drawn from its title.
 */
export function groupBoxes(
  doc: Workflow,
  sizes: ReadonlyMap<string, { width: number; height: number }>,
): Array<{ index: number; group: WorkflowGroup; color: string; x: number; y: number; w: number; h: number }> {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  return (doc.groups ?? []).flatMap((group, index) => {
    const members = group.nodes.map((id) => byId.get(id)).filter((n) => n !== undefined);
    if (members.length === 0) return [];
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const n of members) {
      const [x, y] = n.position ?? [0, 0];
      const size = sizes.get(n.id) ?? DEFAULT_NODE_SIZE;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + size.width);
      y1 = Math.max(y1, y + size.height);
    }
    const { pad, head } = GROUP_BOX;
    const color = group.color ?? `hsl(${hashHue(group.title)}, 40%, 55%)`;
    return [{ index, group, color, x: x0 - pad, y: y0 - pad - head, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad + head }];
  });
}

/**
 * A left-to-right layered layout: each node goes one column right of its furthest input. Groups
 * are laid out first, each as a block across the columns its members span (so a group's box holds
 * only its members); the other nodes follow down their columns in their current vertical order.
 */
export function layeredLayout(
  doc: Workflow,
  sizes: ReadonlyMap<string, { width: number; height: number }>,
  gap: { x: number; y: number } = { x: 48, y: 24 },
): Map<string, [number, number]> {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0; // a cycle in a broken file: stop rather than recurse forever
    visiting.add(id);
    let d = 0;
    for (const link of Object.values(byId.get(id)?.inputs ?? {})) if (byId.has(link.node)) d = Math.max(d, depthOf(link.node) + 1);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const sizeOf = (id: string) => sizes.get(id) ?? { width: 250, height: 160 };
  const columns: WorkflowNode[][] = [];
  for (const node of doc.nodes) (columns[depthOf(node.id)] ??= []).push(node);
  const xs: number[] = [];
  let x = 0;
  for (let c = 0; c < columns.length; c++) {
    xs[c] = x;
    x += Math.max(0, ...(columns[c] ?? []).map((n) => sizeOf(n.id).width)) + gap.x;
  }
  const byY = (a: WorkflowNode, b: WorkflowNode) => (a.position?.[1] ?? 0) - (b.position?.[1] ?? 0);
  const out = new Map<string, [number, number]>();
  const cursor = columns.map(() => 0);
  for (const group of doc.groups ?? []) {
    const members = group.nodes.map((id) => byId.get(id)).filter((n): n is WorkflowNode => n !== undefined && !out.has(n.id));
    if (members.length === 0) continue;
    const cols = members.map((n) => depthOf(n.id));
    const lo = Math.min(...cols);
    const hi = Math.max(...cols);
    let top = 0;
    for (let c = lo; c <= hi; c++) top = Math.max(top, cursor[c]!);
    top += GROUP_BOX.pad + GROUP_BOX.head;
    let bottom = top;
    for (let c = lo; c <= hi; c++) {
      let y = top;
      for (const node of members.filter((n) => depthOf(n.id) === c).sort(byY)) {
        out.set(node.id, [xs[c]!, y]);
        y += sizeOf(node.id).height + gap.y;
      }
      bottom = Math.max(bottom, y - gap.y);
    }
    for (let c = lo; c <= hi; c++) cursor[c] = bottom + GROUP_BOX.pad + gap.y;
  }
  for (let c = 0; c < columns.length; c++) {
    let y = cursor[c]!;
    for (const node of (columns[c] ?? []).filter((n) => !out.has(n.id)).sort(byY)) {
      out.set(node.id, [xs[c]!, y]);
      y += sizeOf(node.id).height + gap.y;
    }
  }
  return out;
}

export function groupOf(doc: Workflow, id: string): WorkflowGroup | undefined {
  return doc.groups?.find((g) => g.nodes.includes(id));
}

/**
 * The part of a workflow one output node needs ("Run this output"): that node and everything
 * upstream of it; groups keep only their members that remain.
 */
export function subgraphFor(doc: Workflow, target: string): Workflow {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const keep = new Set<string>();
  const stack = [target];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (keep.has(id) || !byId.has(id)) continue;
    keep.add(id);
    for (const link of Object.values(byId.get(id)!.inputs ?? {})) stack.push(link.node);
  }
  const out = cloneDoc(doc);
  out.nodes = out.nodes.filter((n) => keep.has(n.id));
  if (out.groups) out.groups = out.groups.map((g) => ({ ...g, nodes: g.nodes.filter((n) => keep.has(n)) })).filter((g) => g.nodes.length > 0);
  return out;
}

/**
 * The workflow of the i-th prompt of a batch: every seed param set from a widget moved on by
 * `offset` (wrapping within 0..2^53-1), so a batch explores neighbouring seeds from a known start.
 */
export function offsetSeeds(doc: Workflow, catalog: Catalog, offset: number): Workflow {
  const out = cloneDoc(doc);
  if (offset === 0) return out;
  const span = Number.MAX_SAFE_INTEGER + 1;
  for (const node of out.nodes) {
    const entry = catalog.get(node.type);
    for (const spec of entry?.params ?? []) {
      if (spec.kind !== 'seed' || node.inputs?.[spec.name]) continue;
      const value = Number(paramValue(node, spec));
      if (!Number.isSafeInteger(value) || value < 0) continue;
      // Past 2^53 - 1 sums lose precision, so the wrap is computed without overflowing.
      const next = value <= Number.MAX_SAFE_INTEGER - offset ? value + offset : value - (span - offset);
      node.params = { ...(node.params ?? {}), [spec.name]: next };
    }
  }
  return out;
}
