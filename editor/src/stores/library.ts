// Owns the server's workflow library and opening/saving workflow files (library, disk, dropped media).

import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { HistoryEntry, WorkflowList } from '../../../protocol/index.js';
import type { Workflow } from '../../../engine/workflow.js';
import { api } from '../api/client';
import { useGraphStore } from './graph';
import { useNotifyStore } from './notify';
import { useRunStore } from './run';

/** Checks the outer shape of a document before it replaces the one being edited. */
export function asWorkflow(doc: unknown, source: string): Workflow {
  const w = doc as Partial<Workflow> | null;
  if (!w || typeof w !== 'object' || w.format !== 'skyloom-workflow' || !Array.isArray(w.nodes)) {
    throw new Error(`${source} is not a Skyloom workflow (expected "format": "skyloom-workflow" and a "nodes" list)`);
  }
  return w as Workflow;
}

export const useLibraryStore = defineStore('library', () => {
  const graph = useGraphStore();
  const run = useRunStore();
  const notify = useNotifyStore();
  const items = shallowRef<WorkflowList['items']>([]);
  const loading = ref(false);

  async function refresh(): Promise<void> {
    loading.value = true;
    try {
      items.value = (await api.workflows()).items;
    } catch (e) {
      notify.error((e as Error).message);
    } finally {
      loading.value = false;
    }
  }

  function openDoc(doc: unknown, source: string, libraryName?: string): boolean {
    try {
      const workflow = asWorkflow(doc, source);
      graph.load(workflow, { libraryName });
      run.clearIssues();
      const unknown = workflow.nodes.filter((n) => graph.problems.get(n.id)?.some((p) => p.level === 'error')).length;
      if (unknown > 0) notify.error(`Opened ${source}: ${unknown} node${unknown === 1 ? ' has' : 's have'} problems, marked in red`);
      else notify.success(`Opened ${source}`);
      return true;
    } catch (e) {
      notify.error((e as Error).message);
      return false;
    }
  }

  async function open(name: string): Promise<boolean> {
    try {
      return openDoc(await api.workflow(name), `"${name}"`, name);
    } catch (e) {
      notify.error((e as Error).message);
      return false;
    }
  }

  async function save(name: string): Promise<boolean> {
    try {
      const doc = graph.serialize();
      await api.saveWorkflow(name, doc);
      graph.markSaved(name);
      notify.success(`Saved "${name}" to the library`);
      void refresh();
      return true;
    } catch (e) {
      notify.error((e as Error).message);
      return false;
    }
  }

  async function remove(name: string): Promise<void> {
    try {
      await api.deleteWorkflow(name);
      if (graph.libraryName === name) graph.markSaved('');
      void refresh();
    } catch (e) {
      notify.error((e as Error).message);
    }
  }

  /** Opens a dropped or picked file: workflow JSON directly, media through the server's extractor. */
  async function openFile(file: File): Promise<boolean> {
    const isJson = file.type === 'application/json' || file.name.toLowerCase().endsWith('.json');
    if (isJson) {
      let doc: unknown;
      try {
        doc = JSON.parse(await file.text());
      } catch {
        notify.error(`${file.name} is not valid JSON`);
        return false;
      }
      return openDoc(doc, file.name);
    }
    try {
      const uploaded = await api.upload(file);
      const { workflow } = await api.extract({ upload: uploaded.name });
      return openDoc(workflow, `the workflow embedded in ${file.name}`);
    } catch (e) {
      notify.error(`${file.name}: ${(e as Error).message}`);
      return false;
    }
  }

  /**
   * Opens the workflow a past prompt ran (kept in its history record), as a dropped output file
   * opens the one embedded in it, and shows that prompt's outputs on its nodes.
   */
  async function openPrompt(entry: Pick<HistoryEntry, 'promptId' | 'number'>): Promise<boolean> {
    try {
      const full = await api.historyEntry(entry.promptId);
      if (!full.workflow || !openDoc(full.workflow, `prompt #${entry.number}`)) return false;
      run.showOutputs(full);
      return true;
    } catch (e) {
      notify.error((e as Error).message);
      return false;
    }
  }

  /** Downloads the workflow as a .json file. */
  function download(): void {
    const doc = graph.serialize();
    const blob = new Blob([`${JSON.stringify(doc, null, 2)}\n`], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const base = (graph.libraryName || doc.title || 'workflow').replace(/[^\p{L}\p{N} _.-]/gu, '_');
    a.download = `${base}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  return { items, loading, refresh, open, save, remove, openFile, openDoc, openPrompt, download };
});
