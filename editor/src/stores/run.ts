// Owns running workflows: queueing, the live event stream, each node's state, previews, outputs, queue and history.

import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef, watch } from 'vue';
import type { HistoryEntry, Issue, PreviewMetadata, QueueResponse, UiOutputRef } from '../../../protocol/index.js';
import { api, ApiError, SkyloomSocket } from '../api/client';
import { randomSeed } from '../lib/widgets';
import { issueSlot, offsetSeeds, subgraphFor } from '../lib/workflow-model';
import { useCatalogStore } from './catalog';
import { useGraphStore } from './graph';
import { useNotifyStore } from './notify';

export type NodeRunStatus = 'waiting' | 'running' | 'cached' | 'done' | 'error' | 'interrupted';

export interface NodeRunState {
  status: NodeRunStatus;
  step?: number;
  total?: number;
  message?: string;
  ms?: number;
}

export interface NodeIssue {
  slot?: string;
  message: string;
  /** Warnings do not stop a run (a node that feeds no output). */
  level: 'error' | 'warning';
  code?: string;
}

export interface LivePreview {
  url: string;
  metadata: PreviewMetadata;
}

function newClientId(): string {
  const key = 'skyloom.clientId';
  // Kept per tab across reloads, so a reloaded page still hears the prompt it queued.
  const known = sessionStorage.getItem(key);
  if (known) return known;
  const id = crypto.randomUUID();
  sessionStorage.setItem(key, id);
  return id;
}

export const useRunStore = defineStore('run', () => {
  const graph = useGraphStore();
  const catalog = useCatalogStore();
  const notify = useNotifyStore();
  const clientId = newClientId();
  const socket = new SkyloomSocket(clientId);
  const connected = ref(false);
  const nodes = reactive(new Map<string, NodeRunState>());
  const previews = reactive(new Map<string, LivePreview>());
  const outputs = reactive(new Map<string, UiOutputRef>());
  const issues = reactive(new Map<string, NodeIssue[]>());
  /** What each node of the current run could not do as asked (its `execution_warning` messages). */
  const warnings = reactive(new Map<string, string[]>());

  function addWarning(nodeId: string, message: string): void {
    const list = warnings.get(nodeId) ?? [];
    if (!list.includes(message)) warnings.set(nodeId, [...list, message]);
  }
  const generalIssues = ref<string[]>([]);
  const queue = shallowRef<QueueResponse>({ running: [], pending: [] });
  const history = shallowRef<HistoryEntry[]>([]);
  const currentPrompt = ref<string | undefined>();
  const queueRemaining = ref(0);
  const lastError = ref<string | undefined>();
  const busy = computed(() => queueRemaining.value > 0);
  /** What runs now, for the status bar: the running node and its progress. */
  const activity = computed(() => {
    for (const [id, s] of nodes) {
      if (s.status !== 'running') continue;
      const done = [...nodes.values()].filter((n) => n.status === 'done' || n.status === 'cached').length;
      return { nodeId: id, step: s.step, total: s.total, done, count: nodes.size };
    }
    return undefined;
  });

  // Live validation: the server checks the graph shortly after each edit, so problems appear and
  // clear as the artist makes and fixes them; an answer to an older edit is dropped.
  const VALIDATE_DELAY_MS = 350;
  let validateTimer: ReturnType<typeof setTimeout> | undefined;
  let validateSeq = 0;
  const validating = ref(false);
  watch(
    () => graph.version,
    () => {
      clearTimeout(validateTimer);
      validateTimer = setTimeout(() => void validateNow(), VALIDATE_DELAY_MS);
    },
  );

  /** Asks the server whether the current graph would be accepted, and shows its answer on the nodes. */
  async function validateNow(): Promise<void> {
    const seq = ++validateSeq;
    if (graph.doc.nodes.length === 0) {
      clearIssues();
      return;
    }
    validating.value = true;
    try {
      const answer = await api.validate(graph.serialize());
      if (seq !== validateSeq) return;
      if (answer.valid) setIssues([], answer.warnings ?? []);
      else setIssues(answer.issues);
    } catch {
      // The server is unreachable: keep what is shown; the next edit asks again.
    } finally {
      if (seq === validateSeq) validating.value = false;
    }
  }

  function clearIssues(): void {
    issues.clear();
    generalIssues.value = [];
  }

  function setIssues(list: Issue[], soft: Issue[] = []): void {
    clearIssues();
    const ids = graph.doc.nodes.map((n) => n.id);
    const place = (issue: Issue, level: NodeIssue['level']) => {
      const where = issueSlot(issue.pointer);
      const nodeId = issue.nodeId ?? (where.index !== undefined ? ids[where.index] : undefined);
      if (nodeId === undefined || !ids.includes(nodeId)) {
        if (level === 'error') generalIssues.value.push(issue.message);
        return;
      }
      const list = issues.get(nodeId) ?? [];
      list.push({ slot: where.slot, message: issue.message, level, code: issue.code });
      issues.set(nodeId, list);
    };
    for (const issue of list) place(issue, 'error');
    for (const issue of soft) place(issue, 'warning');
  }

  /** How many prompts one press of Queue sends (each with its seeds moved on by one); remembered. */
  const batchCount = ref(Math.min(64, Math.max(1, Number(localStorage.getItem('skyloom.batch')) || 1)));
  watch(batchCount, (n) => localStorage.setItem('skyloom.batch', String(n)));

  /**
   * Sends the workflow to the queue, `batchCount` times with seeds incremented; with `target`,
   * only what that output node needs. Validation problems land on the nodes they name.
   */
  async function queuePrompt(options: { target?: string } = {}): Promise<string | undefined> {
    graph.randomizeSeeds(randomSeed);
    let base = graph.serialize();
    if (options.target) base = subgraphFor(base, options.target);
    const count = Math.min(64, Math.max(1, Math.round(batchCount.value) || 1));
    const numbers: number[] = [];
    let first: string | undefined;
    for (let i = 0; i < count; i++) {
      const workflow = offsetSeeds(base, catalog.byType, i);
      try {
        const { promptId, number } = await api.queuePrompt(workflow, clientId);
        first ??= promptId;
        numbers.push(number);
        if (!socket.open) void followByPolling(promptId);
      } catch (e) {
        if (e instanceof ApiError && e.issues.length > 0) {
          setIssues(e.issues);
          notify.error(`The workflow has ${e.issues.length} problem${e.issues.length === 1 ? '' : 's'}; see the marked nodes`);
        } else {
          notify.error((e as Error).message);
        }
        break;
      }
    }
    if (numbers.length === 0) return undefined;
    lastError.value = undefined;
    const what = options.target ? ` for ${graph.nodeById(options.target)?.title ?? options.target}` : '';
    notify.info(numbers.length === 1 ? `Queued prompt #${numbers[0]}${what}` : `Queued ${numbers.length} prompts #${numbers[0]}–#${numbers[numbers.length - 1]}${what}`);
    void refreshQueue();
    return first;
  }

  async function interrupt(): Promise<void> {
    try {
      const r = await api.interrupt();
      if (!r.interrupted) notify.info('Nothing is running');
    } catch (e) {
      notify.error((e as Error).message);
    }
  }

  async function cancel(promptId: string): Promise<void> {
    try {
      await api.cancelQueued(promptId);
    } catch (e) {
      notify.error((e as Error).message);
    }
    void refreshQueue();
  }

  async function refreshQueue(): Promise<void> {
    try {
      queue.value = await api.queue();
    } catch {
      // The status stream says when the server is back; the panel keeps its last state.
    }
  }

  async function refreshHistory(): Promise<void> {
    try {
      history.value = (await api.history({ limit: 30 })).items;
    } catch {
      // as above
    }
  }

  const deletedListeners = new Set<(promptId: string) => void>();
  /** Calls `listener` with each prompt whose history record was deleted (in any tab: the server tells every client). */
  function onHistoryDeleted(listener: (promptId: string) => void): () => void {
    deletedListeners.add(listener);
    return () => deletedListeners.delete(listener);
  }

  function setNode(id: string, state: NodeRunState): void {
    nodes.set(id, state);
  }

  function start(): void {
    socket.on('connection', ({ open }) => {
      connected.value = open;
      // The queue comes with the status message the server sends on every connection.
      if (open) void refreshHistory();
    });
    socket.on('status', (d) => {
      queueRemaining.value = d.queueRemaining;
      void refreshQueue();
    });
    socket.on('execution_start', (d) => {
      currentPrompt.value = d.promptId;
      lastError.value = undefined;
      nodes.clear();
      warnings.clear();
      for (const id of d.nodes) setNode(id, { status: 'waiting' });
      for (const [id, p] of previews) {
        URL.revokeObjectURL(p.url);
        previews.delete(id);
      }
      for (const id of d.nodes) outputs.delete(id);
    });
    socket.on('execution_cached', (d) => {
      for (const id of d.nodes) setNode(id, { status: 'cached' });
    });
    socket.on('executing', (d) => setNode(d.nodeId, { status: 'running' }));
    socket.on('execution_warning', (d) => addWarning(d.nodeId, d.message));
    socket.on('progress', (d) => setNode(d.nodeId, { status: 'running', step: d.step, total: d.total }));
    socket.on('preview', ({ metadata, blob }) => {
      const old = previews.get(metadata.nodeId);
      if (old) URL.revokeObjectURL(old.url);
      previews.set(metadata.nodeId, { url: URL.createObjectURL(blob), metadata });
    });
    socket.on('executed', (d) => {
      setNode(d.nodeId, { status: 'done', ms: d.ms });
      if (d.ui) outputs.set(d.nodeId, d.ui);
    });
    socket.on('execution_success', (d) => {
      for (const [id, ui] of Object.entries(d.outputs)) outputs.set(id, ui);
      notify.success(`Finished in ${(d.ms / 1000).toFixed(1)} s`);
      void refreshHistory();
    });
    socket.on('execution_error', (d) => {
      lastError.value = d.message;
      if (d.nodeId) setNode(d.nodeId, { status: 'error', message: d.message });
      for (const [id, s] of nodes) if (s.status === 'waiting') nodes.delete(id);
      notify.error(d.message);
      void refreshHistory();
    });
    socket.on('execution_interrupted', (d) => {
      if (d.nodeId) setNode(d.nodeId, { status: 'interrupted', message: 'Interrupted' });
      // The running node stopped; nodes still waiting never ran, so they drop their state.
      for (const [id, s] of nodes) {
        if (s.status === 'running') setNode(id, { status: 'interrupted' });
        else if (s.status === 'waiting') nodes.delete(id);
      }
      notify.info('Interrupted');
      void refreshHistory();
    });
    socket.on('history_deleted', ({ promptId }) => {
      if (history.value.some((h) => h.promptId === promptId)) history.value = history.value.filter((h) => h.promptId !== promptId);
      for (const listener of deletedListeners) listener(promptId);
    });
    socket.connect();
  }

  /**
   * Events go only to a connected socket; a prompt queued while it was down is followed through
   * the history instead, so its end state and outputs still reach the nodes.
   */
  async function followByPolling(promptId: string): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      if (socket.open && currentPrompt.value === promptId) return;
      let entry: HistoryEntry;
      try {
        entry = await api.historyEntry(promptId);
      } catch {
        continue;
      }
      if (entry.status === 'queued' || entry.status === 'running') continue;
      if (currentPrompt.value === promptId) return;
      currentPrompt.value = promptId;
      nodes.clear();
      warnings.clear();
      for (const w of entry.warnings ?? []) addWarning(w.nodeId, w.message);
      for (const id of entry.executed) setNode(id, { status: 'done', ms: entry.timings.nodes[id] });
      for (const id of entry.cached) setNode(id, { status: 'cached' });
      if (entry.error?.nodeId) setNode(entry.error.nodeId, { status: entry.status === 'interrupted' ? 'interrupted' : 'error', message: entry.error.message });
      if (entry.error) lastError.value = entry.error.message;
      showOutputs(entry);
      void refreshHistory();
      return;
    }
  }

  /** Shows a finished prompt's outputs on its nodes (from the history panel). */
  function showOutputs(entry: HistoryEntry): void {
    for (const [id, ui] of Object.entries(entry.outputs)) outputs.set(id, ui);
  }

  return {
    clientId,
    connected,
    nodes,
    previews,
    outputs,
    issues,
    warnings,
    generalIssues,
    queue,
    history,
    currentPrompt,
    queueRemaining,
    lastError,
    busy,
    activity,
    start,
    onHistoryDeleted,
    queuePrompt,
    batchCount,
    interrupt,
    cancel,
    refreshQueue,
    refreshHistory,
    setIssues,
    clearIssues,
    validateNow,
    validating,
    showOutputs,
  };
});
