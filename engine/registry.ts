// The node registry: which node types exist, their catalog as plain JSON, and loading node packs.

import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { distance } from 'fastest-levenshtein';
import { assertWellFormed } from './define-node.js';
import { EngineError } from './errors.js';
import { PARAM_SOCKET, type NodeCatalogEntry, type NodeDefinition } from './types.js';

export class NodeRegistry {
  readonly #nodes = new Map<string, NodeDefinition>();

  constructor(definitions: Iterable<NodeDefinition> = []) {
    this.registerAll(definitions);
  }

  /**
   * Adds a node type.
   * @throws EngineError `duplicate_node_type` when the type is already registered
   */
  register(definition: NodeDefinition): void {
    assertWellFormed(definition);
    if (this.#nodes.has(definition.type)) {
      throw new EngineError('duplicate_node_type', `Node type "${definition.type}" is already registered`);
    }
    this.#nodes.set(definition.type, definition);
  }

  registerAll(definitions: Iterable<NodeDefinition>): void {
    for (const d of definitions) this.register(d);
  }

  get(type: string): NodeDefinition | undefined {
    return this.#nodes.get(type);
  }

  has(type: string): boolean {
    return this.#nodes.has(type);
  }

  types(): string[] {
    return [...this.#nodes.keys()].sort();
  }

  /** Up to three registered types closest in spelling to `type`, nearest first. */
  nearest(type: string): string[] {
    const wanted = type.toLowerCase();
    const limit = Math.max(2, Math.floor(wanted.length / 3));
    return this.types()
      .map((t) => ({ t, d: distance(wanted, t) }))
      .filter(({ t, d }) => d <= limit || t.includes(wanted) || wanted.includes(t))
      .sort((a, b) => a.d - b.d || a.t.localeCompare(b.t))
      .slice(0, 3)
      .map(({ t }) => t);
  }

  /** The catalog: every node as plain JSON data (no functions), sorted by category then type. */
  catalog(): NodeCatalogEntry[] {
    return [...this.#nodes.values()].map(toCatalogEntry).sort((a, b) => a.category.localeCompare(b.category) || a.type.localeCompare(b.type));
  }
}

function toCatalogEntry(d: NodeDefinition): NodeCatalogEntry {
  return {
    type: d.type,
    version: d.version,
    displayName: d.displayName ?? titleCase(d.type),
    ...(d.aliases && d.aliases.length > 0 ? { aliases: [...d.aliases] } : {}),
    category: d.category,
    description: d.description,
    inputs: Object.entries(d.inputs ?? {}).map(([name, s]) => ({ name, ...s })),
    params: Object.entries(d.params ?? {}).map(([name, s]) => ({ name, socket: PARAM_SOCKET[s.kind], ...s })),
    outputs: Object.entries(d.outputs ?? {}).map(([name, s]) => ({ name, ...s })),
    flags: { output: d.flags?.output ?? false, idempotent: d.flags?.idempotent ?? true },
  };
}

function titleCase(type: string): string {
  const base = type.includes('/') ? type.slice(type.indexOf('/') + 1) : type;
  return base
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

/**
 * Loads a node pack: an ES module exporting `nodes` (or a default export) as an array of node
 * definitions. A pack is code, so loading one is always an explicit choice of the user.
 * @returns the node types it registered
 * @throws EngineError `node_pack_not_found`, `node_pack_failed` or `node_pack_invalid`, naming the path
 */
export async function loadNodePack(registry: NodeRegistry, modulePath: string): Promise<string[]> {
  const path = resolve(modulePath);
  try {
    await access(path);
  } catch {
    throw new EngineError('node_pack_not_found', `Node pack not found: ${path}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new EngineError('node_pack_failed', `Node pack ${path} failed to load: ${reason}`, { cause });
  }
  const list = mod.nodes ?? mod.default;
  if (!Array.isArray(list)) {
    throw new EngineError('node_pack_invalid', `Node pack ${path} must export "nodes" (an array of node definitions)`);
  }
  const types: string[] = [];
  for (const def of list as NodeDefinition[]) {
    try {
      registry.register(def);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new EngineError('node_pack_invalid', `Node pack ${path}: ${reason}`, { cause });
    }
    types.push(def.type);
  }
  return types;
}
