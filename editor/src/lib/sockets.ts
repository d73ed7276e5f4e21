// Owns the socket rules of the editor: which output may feed which input, and the colour of each socket type.

import type { Workflow } from '../../../engine/workflow.js';

/** The same rule the engine's validator applies: equal types, or `*` on either side. */
export function socketsCompatible(from: string, to: string): boolean {
  return from === to || from === '*' || to === '*';
}

/** Whether linking `from` to `to` would close a cycle (the engine rejects cycles). */
export function wouldCycle(doc: Pick<Workflow, 'nodes'>, fromNode: string, toNode: string): boolean {
  if (fromNode === toNode) return true;
  // A cycle appears when `toNode` is already upstream of `fromNode`.
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const stack = [fromNode];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === toNode) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const link of Object.values(byId.get(id)?.inputs ?? {})) stack.push(link.node);
  }
  return false;
}

export interface LinkCheck {
  ok: boolean;
  reason?: string;
}

/**
 * Checks a link the user is making: types must match and the graph must stay acyclic.
 * The reason reads as a sentence the editor shows as it refuses the link.
 */
export function checkLink(doc: Pick<Workflow, 'nodes'>, from: { node: string; type: string }, to: { node: string; type: string; name: string }): LinkCheck {
  if (!socketsCompatible(from.type, to.type)) {
    return { ok: false, reason: `Cannot connect ${from.type} to "${to.name}", which takes ${to.type}` };
  }
  if (wouldCycle(doc, from.node, to.node)) {
    return { ok: false, reason: 'That link would make a cycle; a workflow flows one way' };
  }
  return { ok: true };
}

// Built-in socket types get fixed, distinct colours; a node pack's own type gets a stable hashed hue.
const KNOWN: Record<string, string> = {
  MODEL: '#b39ddb',
  CONDITIONING: '#ffb74d',
  LATENT: '#f06292',
  VIDEO: '#4fc3f7',
  IMAGE: '#64b5f6',
  UPSCALER: '#a1887f',
  TEXT: '#aed581',
  INT: '#4db6ac',
  FLOAT: '#81c784',
  BOOLEAN: '#e57373',
  '*': '#bdbdbd',
};

export function hashHue(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

export function socketColor(type: string): string {
  return KNOWN[type] ?? `hsl(${hashHue(type)}, 60%, 65%)`;
}

const CATEGORY: Record<string, string> = {
  model: '#6a4fb3',
  text: '#b8741a',
  latent: '#a8326e',
  sampling: '#2f7d5b',
  vae: '#2b6aa3',
  'video io': '#1f8a96',
  time: '#7a6a1d',
  upscale: '#6d4c41',
  primitives: '#546e7a',
};

export function categoryColor(category: string): string {
  return CATEGORY[category] ?? `hsl(${hashHue(category)}, 45%, 38%)`;
}
