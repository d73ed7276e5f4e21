// Owns finding nodes by what an artist types: words in any order, prefixes, aliases (ComfyUI names) and small typos.

import type { NodeCatalogEntry } from '../../../engine/types.js';

/** Lower-case words of a text, split at anything that is not a letter or digit. */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/** Edit distance counting a swap of neighbours as one edit (typing "smapler"), stopping once over `limit`. */
function distanceWithin(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, before[j - 2]! + 1);
      row.push(v);
      best = Math.min(best, v);
    }
    if (best > limit) return limit + 1;
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * How well one typed word matches one word of a name: 0 exact, 1 prefix, 2 a typo (one edit for
 * words of 4 letters or more, two for 8 or more), undefined for no match.
 */
function wordScore(typed: string, word: string): number | undefined {
  if (word === typed) return 0;
  if (word.startsWith(typed)) return 1;
  const limit = typed.length >= 8 ? 2 : typed.length >= 4 ? 1 : 0;
  if (limit === 0) return undefined;
  // A typo in the whole word ("smapler") or in the start of a longer one ("chekpo").
  if (distanceWithin(typed, word, limit) <= limit) return 2;
  if (word.length > typed.length && distanceWithin(typed, word.slice(0, typed.length), limit) <= limit) return 2;
  return undefined;
}

/**
 * Scores a catalog entry against a query (lower is better), or undefined when some typed word
 * matches nothing. Every typed word must match a word of the display name, the type, an alias,
 * the category or (weakest) the description, in any order; a whole alias typed as one word
 * ("ksampler") counts as a name match.
 */
export function matchScore(entry: NodeCatalogEntry, query: string): number | undefined {
  const typed = words(query);
  if (typed.length === 0) return 0;
  const fields: Array<[number, string[]]> = [
    [0, [...words(entry.displayName), ...words(entry.type)]],
    [1, (entry.aliases ?? []).flatMap((a) => [...words(a), a.toLowerCase().replace(/[^a-z0-9]/g, '')])],
    [3, words(entry.category)],
    [6, words(entry.description)],
    [4, [...entry.inputs, ...entry.outputs].map((s) => s.type.toLowerCase())],
  ];
  const squashed = query.toLowerCase().replace(/[^a-z0-9]/g, '');
  const names = [entry.displayName, entry.type, ...(entry.aliases ?? [])].map((n) => n.toLowerCase().replace(/[^a-z0-9]/g, ''));
  if (names.some((n) => n === squashed)) return 0;
  let total = 0;
  for (const t of typed) {
    let best: number | undefined;
    for (const [weight, list] of fields) {
      for (const w of list) {
        const s = wordScore(t, w);
        if (s !== undefined && (best === undefined || weight + s < best)) best = weight + s;
      }
    }
    if (best === undefined) return undefined;
    total += best;
  }
  return total / typed.length;
}

/** The entries matching a query, best first (ties by display name). */
export function searchCatalog(entries: readonly NodeCatalogEntry[], query: string): NodeCatalogEntry[] {
  if (words(query).length === 0) return [...entries];
  const scored: Array<[number, NodeCatalogEntry]> = [];
  for (const e of entries) {
    const s = matchScore(e, query);
    if (s !== undefined) scored.push([s, e]);
  }
  return scored.sort((a, b) => a[0] - b[0] || a[1].displayName.localeCompare(b[1].displayName)).map(([, e]) => e);
}
