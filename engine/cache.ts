// The output cache: node outputs by cache key, within a memory budget, least recently used evicted first.

import type { NodeOutputs, UiOutput } from './types.js';

/**
 * Values that know their own memory footprint (a frame store on disk holds only a few bytes in
 * memory) implement this symbol; everything else is measured by walking it.
 */
export const byteSize: unique symbol = Symbol.for('skyloom.byteSize');

export interface Sized {
  [byteSize](): number;
}

export interface CacheEntry {
  outputs: NodeOutputs;
  ui?: UiOutput;
  /** What the node warned about when it ran (see NodeContext.warn). */
  warnings?: string[];
  bytes: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class OutputCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxBytes: number;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /** @param maxBytes the memory budget; entries are evicted, least recently used first, to stay within it */
  constructor(maxBytes = 2 * 1024 ** 3) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) {
      this.#misses += 1;
      return undefined;
    }
    this.#hits += 1;
    // Map iteration order is insertion order: re-inserting makes this the most recently used.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Stores outputs; an entry larger than the whole budget is not kept at all. */
  set(key: string, outputs: NodeOutputs, ui?: UiOutput, warnings?: string[]): void {
    this.delete(key);
    const bytes = estimateBytes(outputs) + (ui ? estimateBytes(ui) : 0);
    if (bytes > this.#maxBytes) return;
    this.#entries.set(key, { outputs, ...(ui ? { ui } : {}), ...(warnings?.length ? { warnings } : {}), bytes });
    this.#bytes += bytes;
    for (const [oldKey, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= entry.bytes;
      this.#evictions += 1;
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  stats(): CacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      maxBytes: this.#maxBytes,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }
}

/** A fair estimate of the memory a value holds: typed arrays by their bytes, objects walked once. */
export function estimateBytes(value: unknown, seen = new Set<object>()): number {
  if (value === null || value === undefined) return 0;
  switch (typeof value) {
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
      return 4;
    case 'string':
      return 2 * value.length;
    case 'object':
      break;
    default:
      return 0;
  }
  const obj = value as object;
  if (seen.has(obj)) return 0;
  seen.add(obj);
  if (typeof (obj as Partial<Sized>)[byteSize] === 'function') return (obj as Sized)[byteSize]();
  if (ArrayBuffer.isView(obj)) return obj.byteLength;
  if (obj instanceof ArrayBuffer) return obj.byteLength;
  let total = 16;
  if (obj instanceof Map) {
    for (const [k, v] of obj) total += estimateBytes(k, seen) + estimateBytes(v, seen);
    return total;
  }
  const items = Array.isArray(obj) || obj instanceof Set ? obj : Object.values(obj);
  for (const v of items) total += 8 + estimateBytes(v, seen);
  return total;
}
