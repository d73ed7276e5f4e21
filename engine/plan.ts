// The planner: which nodes a run needs, in an order where every node comes after its inputs.

import { EngineError } from './errors.js';
import type { ValidatedWorkflow } from './validate.js';

/**
 * The nodes needed to compute `targets` (default: every output node), in topological order;
 * ties keep the order of the workflow file, so runs are repeatable.
 * @throws EngineError `unknown_target` for a target id not in the workflow, `no_outputs` when
 *   there is nothing to run
 */
export interface ExecutionPlan {
  /** The nodes asked for: the targets, or every output node. */
  roots: string[];
  /** Every node the roots need, in topological order. */
  order: string[];
}

export function planExecution(validated: ValidatedWorkflow, targets?: readonly string[]): ExecutionPlan {
  const { nodes } = validated;
  let roots: string[];
  if (targets && targets.length > 0) {
    const missing = targets.filter((t) => !nodes.has(t));
    if (missing.length > 0) {
      throw new EngineError('unknown_target', `Cannot run ${missing.map((m) => `"${m}"`).join(', ')}: no such node in the workflow`);
    }
    roots = [...targets];
  } else {
    roots = [...nodes.values()].filter((n) => n.definition.flags?.output).map((n) => n.id);
    if (roots.length === 0) {
      throw new EngineError('no_outputs', 'The workflow has no output node (such as save-video), so there is nothing to run');
    }
  }

  const needed = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (needed.has(id)) continue;
    needed.add(id);
    for (const link of Object.values(nodes.get(id)!.links)) stack.push(link.node);
  }

  // Kahn's algorithm over the needed subgraph, picking the earliest node in file order each time.
  const indegree = new Map<string, number>();
  const consumers = new Map<string, string[]>();
  for (const id of needed) {
    const sources = new Set(Object.values(nodes.get(id)!.links).map((l) => l.node));
    indegree.set(id, sources.size);
    for (const s of sources) {
      const list = consumers.get(s);
      if (list) list.push(id);
      else consumers.set(s, [id]);
    }
  }
  const ready = [...needed].filter((id) => indegree.get(id) === 0);
  const byIndex = (a: string, b: string) => nodes.get(a)!.index - nodes.get(b)!.index;
  const order: string[] = [];
  while (ready.length > 0) {
    ready.sort(byIndex);
    const id = ready.shift()!;
    order.push(id);
    for (const c of consumers.get(id) ?? []) {
      const left = indegree.get(c)! - 1;
      indegree.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  return { roots, order };
}
