// Owns the results gallery: finished prompts from the server's history, paged newest first, filtered, kept live; delete and re-queue.

import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { HistoryEntry, OutputFileRef } from '../../../protocol/index.js';
import type { Workflow } from '../../../engine/workflow.js';
import { api, type HistoryQuery } from '../api/client';
import { useNotifyStore } from './notify';
import { useRunStore } from './run';

export type StatusFilter = 'all' | 'success' | 'failed';
export type KindFilter = 'all' | 'video' | 'image';

/** Entries fetched per page; the grid asks for the next page when its end scrolls into view. */
export const GALLERY_PAGE = 24;

/** The files of an entry a gallery can show (videos and images served from the output folder), in output order. */
export function mediaOf(entry: HistoryEntry): OutputFileRef[] {
  return Object.values(entry.outputs).flatMap((ui) => (ui.files ?? []).filter((f) => f.url && (f.kind === 'video' || f.kind === 'image')));
}

export const useGalleryStore = defineStore('gallery', () => {
  const run = useRunStore();
  const notify = useNotifyStore();
  const items = shallowRef<HistoryEntry[]>([]);
  const total = ref(0);
  const loading = ref(false);
  /** The last page came back short: nothing older matches. */
  const ended = ref(false);
  const active = ref(false);
  const status = ref<StatusFilter>('all');
  const kind = ref<KindFilter>('all');
  const text = ref('');
  // Each fetch is numbered; an answer to an older filter or an older reset is dropped.
  let generation = 0;

  const query = computed((): HistoryQuery => ({
    limit: GALLERY_PAGE,
    ...(status.value === 'success' ? { status: 'success' } : status.value === 'failed' ? { status: 'error,interrupted' } : {}),
    ...(kind.value !== 'all' ? { kind: kind.value } : {}),
    ...(text.value.trim() ? { q: text.value.trim() } : {}),
  }));

  /** Starts over from the newest entry (opening the gallery, a filter changed). */
  /**
   * Fetches one page of the current query (older than `before` when given) and lets `merge` place
   * it among the items shown; a page that arrives after a newer query started is dropped.
   */
  async function fetchPage(mine: number, before: number | undefined, merge: (page: HistoryEntry[]) => HistoryEntry[]): Promise<void> {
    loading.value = true;
    try {
      const page = await api.history(before === undefined ? query.value : { ...query.value, before });
      if (mine !== generation) return;
      items.value = merge(page.items);
      total.value = page.total;
      ended.value = page.items.length < GALLERY_PAGE;
    } catch (e) {
      if (mine === generation) notify.error((e as Error).message);
    } finally {
      if (mine === generation) loading.value = false;
    }
  }

  async function reload(): Promise<void> {
    ended.value = false;
    await fetchPage(++generation, undefined, (page) => page);
  }

  /** The next older page, from the oldest entry shown (a cursor that new results do not shift). */
  async function loadMore(): Promise<void> {
    if (loading.value || ended.value || items.value.length === 0) return;
    await fetchPage(generation, items.value[items.value.length - 1]!.number, (page) => {
      const known = new Set(items.value.map((i) => i.promptId));
      return [...items.value, ...page.filter((i) => !known.has(i.promptId))];
    });
  }

  /** Puts prompts that finished since the newest one shown on top, keeping the pages already loaded. */
  async function refreshTop(): Promise<void> {
    const mine = generation;
    try {
      const page = await api.history(query.value);
      if (mine !== generation) return;
      const newest = items.value[0]?.number ?? 0;
      const fresh = page.items.filter((i) => i.number > newest);
      if (fresh.length > 0) items.value = [...fresh, ...items.value];
      total.value = page.total;
    } catch {
      // The next finished prompt asks again.
    }
  }

  function open(): void {
    active.value = true;
    void reload();
  }

  function close(): void {
    active.value = false;
  }

  let textTimer: ReturnType<typeof setTimeout> | undefined;
  watch([status, kind], () => {
    if (active.value) void reload();
  });
  watch(text, () => {
    clearTimeout(textTimer);
    textTimer = setTimeout(() => {
      if (active.value) void reload();
    }, 250);
  });
  // The run store refetches its history when this tab's prompt ends, and the queue on every
  // status message the server sends to all tabs as prompts start and end (others' prompts too).
  watch(
    () => [run.history, run.queue],
    () => {
      if (active.value) void refreshTop();
    },
  );

  /** Drops a deleted prompt's card; a no-op when it is not shown (this tab's own delete, echoed by the server). */
  function forget(promptId: string): void {
    if (!items.value.some((i) => i.promptId === promptId)) return;
    items.value = items.value.filter((i) => i.promptId !== promptId);
    total.value = Math.max(0, total.value - 1);
  }
  // Another tab's delete arrives as a `history_deleted` event to every client.
  run.onHistoryDeleted(forget);

  /** Deletes a prompt's history record (and with `files`, its output files no other record names). */
  async function remove(entry: HistoryEntry, files: boolean): Promise<boolean> {
    try {
      const answer = await api.deleteHistory(entry.promptId, files ? 'delete' : 'keep');
      forget(entry.promptId);
      const removed = answer.files.removed.length;
      notify.info(`Deleted prompt #${entry.number} from the history${files ? ` and ${removed} file${removed === 1 ? '' : 's'}` : ''}`);
      void run.refreshHistory();
      return true;
    } catch (e) {
      notify.error((e as Error).message);
      return false;
    }
  }

  /** Queues the exact workflow a past prompt ran again (same params and seeds). */
  async function requeue(entry: HistoryEntry): Promise<string | undefined> {
    try {
      const full = await api.historyEntry(entry.promptId);
      if (!full.workflow) throw new Error(`Prompt #${entry.number} kept no workflow`);
      const { promptId, number } = await api.queuePrompt(full.workflow as unknown as Workflow, run.clientId);
      notify.info(`Queued prompt #${number} (again #${entry.number})`);
      void run.refreshQueue();
      return promptId;
    } catch (e) {
      notify.error((e as Error).message);
      return undefined;
    }
  }

  return { items, total, loading, ended, active, status, kind, text, open, close, reload, loadMore, refreshTop, remove, requeue };
});
