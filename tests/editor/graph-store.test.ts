// @vitest-environment happy-dom
// The graph store: edits through the store, undo/redo, seeds drawn before a run, the saved document, the reload draft.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Workflow } from '../../engine/workflow.js';
import { createRegistry } from '../../nodes/index.js';
import { useCatalogStore } from '../../editor/src/stores/catalog';
import { DRAFT_KEY, useGraphStore } from '../../editor/src/stores/graph';

const workflow = (): Workflow => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;

function stores() {
  setActivePinia(createPinia());
  const catalog = useCatalogStore();
  catalog.entries = createRegistry().catalog();
  catalog.models = [{ name: 'tiny', dir: '/m/tiny', kind: 'skyloom' }];
  const graph = useGraphStore();
  graph.load(workflow());
  return { catalog, graph };
}

const param = (g: ReturnType<typeof useGraphStore>, id: string, name: string) => g.nodeById(id)!.params![name];

beforeEach(() => localStorage.clear());

describe('graph store', () => {
  it('adds nodes from the catalog and links them, one undo step each', () => {
    const { graph } = stores();
    const id = graph.addNode('int', [0, 0])!;
    expect(id).toBe('int');
    graph.connect('sampler', 'steps', { node: 'int', output: 'value' });
    expect(graph.nodeById('sampler')!.inputs!.steps).toEqual({ node: 'int', output: 'value' });
    expect(graph.dirty).toBe(true);
    graph.undo();
    expect(graph.nodeById('sampler')!.inputs!.steps).toBeUndefined();
    graph.undo();
    expect(graph.nodeById('int')).toBeUndefined();
    expect(graph.canUndo).toBe(false);
    graph.redo();
    graph.redo();
    expect(graph.nodeById('sampler')!.inputs!.steps).toEqual({ node: 'int', output: 'value' });
    expect(graph.addNode('no-such-type', [0, 0])).toBeUndefined();
  });

  it('merges typing in one field into one undo step', () => {
    const { graph } = stores();
    for (const text of ['a', 'a b', 'a bl', 'a blue']) graph.setParam('prompt', 'text', text);
    graph.undo();
    expect(param(graph, 'prompt', 'text')).toBe('a red circle moving left on a black background');
  });

  it('draws new seeds before a run only for seeds set to randomize', () => {
    const { graph } = stores();
    graph.setSeedMode('sampler', 'seed', 'randomize');
    expect(graph.seedMode('sampler', 'seed')).toBe('randomize');
    graph.randomizeSeeds(() => 1234);
    expect(param(graph, 'sampler', 'seed')).toBe(1234);
    graph.setSeedMode('sampler', 'seed', 'fixed');
    graph.randomizeSeeds(() => 99);
    expect(param(graph, 'sampler', 'seed')).toBe(1234);
  });

  it('serializes with the model list following the model param', () => {
    const { graph } = stores();
    graph.setParam('model', 'name', 'tiny');
    const doc = graph.serialize();
    expect(doc.models).toEqual([{ name: 'tiny' }]);
    expect(doc.format).toBe('skyloom-workflow');
    expect(doc.nodes).toHaveLength(8);
  });

  it('shows a missing model as a problem on its node', () => {
    const { graph } = stores();
    expect(graph.problems.get('model')).toEqual([{ level: 'error', slot: 'name', message: 'Model "skyloom-tiny" is not installed (installed: tiny)' }]);
    graph.setParam('model', 'name', 'tiny');
    expect(graph.problems.get('model')).toBeUndefined();
  });

  it('keeps an unsaved draft that a new session restores, and a clean one after saving', () => {
    const { graph } = stores();
    graph.setParam('prompt', 'text', 'a yellow star');
    graph.saveDraft();
    const draft = JSON.parse(localStorage.getItem(DRAFT_KEY)!) as { dirty: boolean };
    expect(draft.dirty).toBe(true);
    setActivePinia(createPinia());
    const next = useGraphStore();
    expect(next.loadDraft()).toBe(true);
    expect(param(next, 'prompt', 'text')).toBe('a yellow star');
    expect(next.dirty).toBe(true);
    next.markSaved('stars');
    next.saveDraft();
    setActivePinia(createPinia());
    const third = useGraphStore();
    third.loadDraft();
    expect(third.dirty).toBe(false);
    expect(third.libraryName).toBe('stars');
  });

  it('removes nodes with their links and groups, and pastes copies under new ids', () => {
    const { graph } = stores();
    const fragment = graph.copy(['prompt', 'positive']);
    graph.removeNodes(['prompt']);
    expect(graph.nodeById('positive')!.inputs!.text).toBeUndefined();
    expect(graph.doc.groups![0]!.nodes).toEqual(['positive', 'negative']);
    const ids = graph.paste(fragment, [500, 500]);
    expect(ids.sort()).toEqual(['positive-2', 'prompt']);
    expect(graph.nodeById('positive-2')!.inputs!.text).toEqual({ node: 'prompt', output: 'text' });
  });

  it('collapses and colours nodes as one undo step each; collapse toggles; both are saved', () => {
    const { graph } = stores();
    graph.toggleCollapsed(['sampler']);
    graph.toggleCollapsed(['sampler', 'decode']);
    expect([graph.nodeById('sampler')!.collapsed, graph.nodeById('decode')!.collapsed]).toEqual([true, true]);
    graph.toggleCollapsed(['sampler', 'decode']);
    expect([graph.nodeById('sampler')!.collapsed, graph.nodeById('decode')!.collapsed]).toEqual([undefined, undefined]);
    graph.setColor(['prompt', 'sampler'], '#2f7d5b');
    expect(graph.nodeById('prompt')!.color).toBe('#2f7d5b');
    graph.toggleCollapsed(['prompt']);
    const saved = graph.serialize();
    expect(saved.version).toBe(3);
    expect(saved.nodes.find((n) => n.id === 'prompt')).toMatchObject({ color: '#2f7d5b', collapsed: true });
    graph.undo();
    expect(graph.nodeById('prompt')!.collapsed).toBeUndefined();
    graph.undo();
    expect(graph.nodeById('sampler')!.color).toBeUndefined();
    graph.undo();
    expect(graph.nodeById('decode')!.collapsed).toBe(true);
    graph.redo();
    graph.redo();
    expect(graph.nodeById('sampler')!.color).toBe('#2f7d5b');
    graph.setColor(['sampler'], undefined);
    expect('color' in graph.nodeById('sampler')!).toBe(false);
  });
});
