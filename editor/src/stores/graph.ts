// Owns the workflow being edited: the document, every edit to it, undo/redo, and the draft kept across reloads.

import { defineStore } from 'pinia';
import { computed, ref, shallowRef, triggerRef, watch } from 'vue';
import type { Link, NodeMode, ParamValue, Workflow } from '../../../engine/workflow.js';
import { UndoHistory } from '../lib/history';
import {
  cloneDoc,
  copyFragment,
  createNode,
  emptyWorkflow,
  modelList,
  newNodeId,
  nodeProblems,
  pasteFragment,
  removeLink,
  removeNodes as removeFrom,
  setLink,
  WORKFLOW_VERSION,
  type Fragment,
  type NodeProblem,
} from '../lib/workflow-model';
import { useCatalogStore } from './catalog';

export const DRAFT_KEY = 'skyloom.editor.draft';

interface Draft {
  doc: Workflow;
  libraryName?: string;
  dirty: boolean;
}

export const useGraphStore = defineStore('graph', () => {
  const catalog = useCatalogStore();
  // A shallow ref whose mutations are announced by `touch()`: edits mutate in place and bump revisions.
  const doc = shallowRef<Workflow>(emptyWorkflow());
  /** Bumped on every change the canvas must reflect (nodes, links, positions). */
  const revision = ref(0);
  /** Bumped on every change at all (params included). */
  const version = ref(0);
  const dirty = ref(false);
  /** Bumped each time a document is opened, so the canvas can lay it out and fit it in view. */
  const loads = ref(0);
  const libraryName = ref<string | undefined>();
  const history = new UndoHistory<Workflow>(doc.value);
  const canUndo = ref(false);
  const canRedo = ref(false);

  function touch(structural: boolean): void {
    if (structural) revision.value++;
    version.value++;
    triggerRef(doc);
  }

  function record(key?: string): void {
    if (history.record(doc.value, key)) dirty.value = true;
    canUndo.value = history.canUndo;
    canRedo.value = history.canRedo;
  }

  const problems = computed(() => {
    void version.value;
    const out = new Map<string, NodeProblem[]>();
    for (const node of doc.value.nodes) {
      const list = nodeProblems(node, catalog.byType.get(node.type), doc.value, catalog.modelNames);
      if (list.length > 0) out.set(node.id, list);
    }
    return out;
  });

  const nodeById = (id: string) => doc.value.nodes.find((n) => n.id === id);

  /** Replaces the document (open, new, restore); undo history starts again. */
  function load(next: Workflow, options: { libraryName?: string; dirty?: boolean } = {}): void {
    const copy = cloneDoc(next);
    copy.nodes ??= [];
    copy.groups ??= [];
    doc.value = copy;
    libraryName.value = options.libraryName;
    dirty.value = options.dirty ?? false;
    history.reset(copy);
    canUndo.value = false;
    canRedo.value = false;
    touch(true);
    loads.value++;
  }

  function addNode(type: string, position: [number, number]): string | undefined {
    const entry = catalog.byType.get(type);
    if (!entry) return undefined;
    const id = newNodeId(
      doc.value.nodes.map((n) => n.id),
      type,
    );
    doc.value.nodes.push(createNode(entry, id, position));
    touch(true);
    record();
    return id;
  }

  function removeNodes(ids: Iterable<string>): void {
    if (removeFrom(doc.value, ids) === 0) return;
    touch(true);
    record();
  }

  function connect(to: string, input: string, from: Link): void {
    if (!setLink(doc.value, to, input, from)) return;
    touch(true);
    record();
  }

  function disconnect(to: string, input: string): void {
    if (!removeLink(doc.value, to, input)) return;
    touch(true);
    record();
  }

  function setParam(id: string, name: string, value: ParamValue): void {
    const node = nodeById(id);
    if (!node || node.params?.[name] === value) return;
    node.params = { ...(node.params ?? {}), [name]: value };
    touch(false);
    record(`param:${id}:${name}`);
  }

  /**
   * Sets the mode of the nodes (bypass or mute) as one step; when every one of them already has
   * that mode, it is taken off instead, so the same key toggles.
   */
  function toggleMode(ids: readonly string[], mode: NodeMode): void {
    const nodes = ids.map(nodeById).filter((n) => n !== undefined);
    if (nodes.length === 0) return;
    const off = nodes.every((n) => n.mode === mode);
    for (const n of nodes) {
      if (off) delete n.mode;
      else n.mode = mode;
    }
    touch(false);
    record();
  }

  /**
   * Collapses the nodes to their title bars as one step; when every one of them is collapsed
   * already, they are expanded instead, so the same button or key toggles.
   */
  function toggleCollapsed(ids: readonly string[]): void {
    const nodes = ids
      .map(nodeById)
      .filter((n) => n !== undefined)
      .filter((n) => n.type !== 'reroute');
    if (nodes.length === 0) return;
    const expand = nodes.every((n) => n.collapsed === true);
    for (const n of nodes) {
      if (expand) delete n.collapsed;
      else n.collapsed = true;
    }
    touch(false);
    record();
  }

  /** Colours the nodes (`#rrggbb`), or takes their colour off (`undefined`), as one step. */
  function setColor(ids: readonly string[], color: string | undefined): void {
    const nodes = ids.map(nodeById).filter((n) => n !== undefined);
    if (nodes.length === 0) return;
    for (const n of nodes) {
      if (color === undefined) delete n.color;
      else n.color = color;
    }
    touch(false);
    record();
  }

  /** Puts a reroute point on the link into `to`.`input`, at `at`; one undo step. Returns its id. */
  function insertReroute(to: string, input: string, at: [number, number]): string | undefined {
    const target = nodeById(to);
    const link = target?.inputs?.[input];
    if (!target || !link || !catalog.byType.get('reroute')) return undefined;
    const id = newNodeId(
      doc.value.nodes.map((n) => n.id),
      'reroute',
    );
    doc.value.nodes.push({ id, type: 'reroute', inputs: { in: { ...link } }, position: [Math.round(at[0]), Math.round(at[1])] });
    target.inputs = { ...target.inputs, [input]: { node: id, output: 'out' } };
    touch(true);
    record();
    return id;
  }

  function setNodeTitle(id: string, title: string): void {
    const node = nodeById(id);
    if (!node) return;
    if (title.trim() === '') delete node.title;
    else node.title = title.trim();
    touch(false);
    record(`title:${id}`);
  }

  /** A move while dragging: not an undo step until `commitMoves()`. */
  function moveNode(id: string, position: [number, number]): void {
    const node = nodeById(id);
    if (!node) return;
    const p: [number, number] = [Math.round(position[0]), Math.round(position[1])];
    if (node.position && node.position[0] === p[0] && node.position[1] === p[1]) return;
    node.position = p;
    version.value++;
  }

  function commitMoves(): void {
    record('move');
  }

  /** Moves many nodes as one step; `asLoad` makes it part of opening the document (no undo step, not dirty). */
  function setPositions(positions: ReadonlyMap<string, [number, number]>, options: { asLoad?: boolean } = {}): void {
    for (const [id, p] of positions) {
      const node = nodeById(id);
      if (node) node.position = [Math.round(p[0]), Math.round(p[1])];
    }
    touch(true);
    if (options.asLoad) history.reset(doc.value);
    else record();
  }

  function copy(ids: Iterable<string>): Fragment {
    return copyFragment(doc.value, ids);
  }

  function paste(fragment: Fragment, at: [number, number]): string[] {
    if (fragment.nodes.length === 0) return [];
    const ids = pasteFragment(doc.value, fragment, at);
    touch(true);
    record();
    return ids;
  }

  /** Groups nodes (taking them out of other groups); returns the new group's index. */
  function addGroup(title: string, ids: string[]): number {
    if (ids.length === 0) return -1;
    const groups = (doc.value.groups ?? []).map((g) => ({ ...g, nodes: g.nodes.filter((n) => !ids.includes(n)) })).filter((g) => g.nodes.length > 0);
    groups.push({ title, nodes: [...ids] });
    doc.value.groups = groups;
    touch(true);
    record();
    return groups.length - 1;
  }

  function renameGroup(index: number, title: string): void {
    const group = doc.value.groups?.[index];
    if (!group || !title.trim()) return;
    group.title = title.trim();
    touch(true);
    record(`group:${index}`);
  }

  function removeGroup(index: number): void {
    if (!doc.value.groups?.[index]) return;
    doc.value.groups.splice(index, 1);
    touch(true);
    record();
  }

  function seedMode(id: string, name: string): 'fixed' | 'randomize' {
    const modes = doc.value.extra?.seedModes as Record<string, string> | undefined;
    return modes?.[`${id}.${name}`] === 'randomize' ? 'randomize' : 'fixed';
  }

  /** Seed modes are editor state, kept in the workflow's `extra` so they travel with the file. */
  function setSeedMode(id: string, name: string, mode: 'fixed' | 'randomize'): void {
    const extra = (doc.value.extra ??= {});
    const modes = { ...((extra.seedModes as Record<string, string> | undefined) ?? {}) };
    if (mode === 'randomize') modes[`${id}.${name}`] = mode;
    else delete modes[`${id}.${name}`];
    extra.seedModes = modes;
    touch(false);
    record();
  }

  /** Draws new seeds for the seed params set to "randomize" (before a run). */
  function randomizeSeeds(draw: () => number): void {
    const modes = (doc.value.extra?.seedModes as Record<string, string> | undefined) ?? {};
    for (const key of Object.keys(modes)) {
      const dot = key.lastIndexOf('.');
      const id = key.slice(0, dot);
      const name = key.slice(dot + 1);
      if (nodeById(id) && !nodeById(id)!.inputs?.[name]) setParam(id, name, draw());
    }
  }

  function setTitle(title: string): void {
    doc.value.title = title;
    touch(false);
    record('doc-title');
  }

  function restore(state: Workflow | undefined): void {
    if (!state) return;
    doc.value = state;
    dirty.value = true;
    canUndo.value = history.canUndo;
    canRedo.value = history.canRedo;
    touch(true);
  }

  const undo = () => restore(history.undo());
  const redo = () => restore(history.redo());

  /** The document as it is saved and queued: the model list rebuilt from the model params in use. */
  function serialize(): Workflow {
    const out = cloneDoc(doc.value);
    // What the editor writes is the current format (a version 1 file read here is upgraded by saving it).
    out.version = WORKFLOW_VERSION;
    const models = modelList(out, catalog.byType, catalog.modelNames ?? []);
    if (models && models.length > 0) out.models = models;
    else delete out.models;
    if (out.groups && out.groups.length === 0) delete out.groups;
    return out;
  }

  function markSaved(name?: string): void {
    dirty.value = false;
    if (name !== undefined) libraryName.value = name;
  }

  // The draft survives a reload (and a crash): written shortly after each change.
  let timer: ReturnType<typeof setTimeout> | undefined;
  watch([version, dirty, libraryName], () => {
    clearTimeout(timer);
    timer = setTimeout(saveDraft, 250);
  });

  function saveDraft(): void {
    const draft: Draft = { doc: doc.value, dirty: dirty.value, ...(libraryName.value ? { libraryName: libraryName.value } : {}) };
    try {
      localStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
    } catch {
      // Storage full or disabled: the draft is a convenience, editing goes on.
    }
  }

  /** Restores the draft of the last session; false when there is none. */
  function loadDraft(): boolean {
    let draft: Draft | undefined;
    try {
      draft = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? 'null') as Draft | undefined;
    } catch {
      draft = undefined;
    }
    if (!draft?.doc || !Array.isArray(draft.doc.nodes)) return false;
    load(draft.doc, { libraryName: draft.libraryName, dirty: draft.dirty });
    return true;
  }

  return {
    doc,
    revision,
    version,
    dirty,
    loads,
    libraryName,
    canUndo,
    canRedo,
    problems,
    nodeById,
    load,
    addNode,
    removeNodes,
    connect,
    disconnect,
    setParam,
    setNodeTitle,
    toggleMode,
    toggleCollapsed,
    setColor,
    insertReroute,
    moveNode,
    commitMoves,
    setPositions,
    copy,
    paste,
    addGroup,
    renameGroup,
    removeGroup,
    setTitle,
    seedMode,
    setSeedMode,
    randomizeSeeds,
    undo,
    redo,
    serialize,
    markSaved,
    saveDraft,
    loadDraft,
  };
});
