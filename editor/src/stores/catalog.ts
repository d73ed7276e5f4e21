// Owns what the server offers: the node catalog, the installed models and its system description.

import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { SystemInfo } from '../../../protocol/index.js';
import type { NodeCatalogEntry } from '../../../engine/types.js';
import { api, type ModelListing } from '../api/client';
import { searchCatalog } from '../lib/search';

export const useCatalogStore = defineStore('catalog', () => {
  const entries = shallowRef<NodeCatalogEntry[]>([]);
  const models = shallowRef<ModelListing[] | undefined>(undefined);
  const loaded = ref(false);
  const system = shallowRef<SystemInfo | undefined>();
  const error = ref<string | undefined>();

  const byType = computed(() => new Map(entries.value.map((e) => [e.type, e])));
  const categories = computed(() => {
    const map = new Map<string, NodeCatalogEntry[]>();
    for (const e of entries.value) {
      let list = map.get(e.category);
      if (!list) map.set(e.category, (list = []));
      list.push(e);
    }
    return [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
  });
  const modelNames = computed(() => models.value?.map((m) => m.name));

  let loading: Promise<void> | undefined;
  /** Fetches the catalog, models and system once; a call while one is under way shares it. */
  function load(): Promise<void> {
    loading ??= fetchAll().finally(() => (loading = undefined));
    return loading;
  }

  async function fetchAll(): Promise<void> {
    try {
      const [nodes, list] = await Promise.all([api.nodes(), api.models().catch(() => ({ models: [] as ModelListing[] }))]);
      entries.value = nodes;
      models.value = list.models;
      void api.system().then(
        (info) => (system.value = info),
        () => {},
      );
      loaded.value = true;
      error.value = undefined;
    } catch (e) {
      error.value = (e as Error).message;
      throw e;
    }
  }

  /** Entries matching a search, best first: words in any order, aliases and small typos (lib/search). */
  function search(text: string): NodeCatalogEntry[] {
    return searchCatalog(entries.value, text);
  }

  return { entries, models, modelNames, system, loaded, error, byType, categories, load, search };
});
