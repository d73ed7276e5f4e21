// Editing a workflow as data: nodes from the catalog, links, removal, copy/paste, problems, model list, layout, undo.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NodeCatalogEntry } from '../../engine/types.js';
import type { Workflow } from '../../engine/workflow.js';
import { createRegistry } from '../../nodes/index.js';
import { decodePreview } from '../../editor/src/api/client';
import { UndoHistory } from '../../editor/src/lib/history';
import { actionFor, chordOf, SHORTCUTS } from '../../editor/src/lib/shortcuts';
import {
  copyFragment,
  createNode,
  emptyWorkflow,
  GROUP_BOX,
  issueSlot,
  layeredLayout,
  modelList,
  newNodeId,
  nodeProblems,
  offsetSeeds,
  pasteFragment,
  removeLink,
  removeNodes,
  setLink,
  subgraphFor,
} from '../../editor/src/lib/workflow-model';
import { encodePreviewFrame, PREVIEW_WEBP } from '../../protocol/index.js';

const catalog = new Map<string, NodeCatalogEntry>(
  createRegistry()
    .catalog()
    .map((e) => [e.type, e]),
);
const defaultWorkflow = (): Workflow => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'workflows', 'text-to-video.json'), 'utf8')) as Workflow;

describe('nodes from the catalog', () => {
  it('creates a node with every param at its default and the type version', () => {
    const n = createNode(catalog.get('dit-sampler')!, 'sampler', [10.4, 20.6]);
    expect(n).toEqual({
      id: 'sampler',
      type: 'dit-sampler',
      typeVersion: catalog.get('dit-sampler')!.version,
      params: Object.fromEntries(catalog.get('dit-sampler')!.params.map((p) => [p.name, p.default])),
      position: [10, 21],
    });
  });

  it('picks free ids from the type', () => {
    expect(newNodeId([], 'text-encode')).toBe('text-encode');
    expect(newNodeId(['text-encode', 'text-encode-2'], 'text-encode')).toBe('text-encode-3');
    expect(newNodeId([], 'my-pack/fancy node')).toBe('fancy-node');
  });
});

describe('links and removal', () => {
  it('keeps one link per input, replacing the old one', () => {
    const doc = defaultWorkflow();
    expect(setLink(doc, 'sampler', 'latent', { node: 'latent', output: 'latent' })).toBe(false);
    expect(setLink(doc, 'sampler', 'seed', { node: 'prompt', output: 'text' })).toBe(true);
    expect(doc.nodes.find((n) => n.id === 'sampler')!.inputs!.seed).toEqual({ node: 'prompt', output: 'text' });
    expect(removeLink(doc, 'sampler', 'seed')).toBe(true);
    expect(removeLink(doc, 'sampler', 'seed')).toBe(false);
  });

  it('removes nodes with the links out of them and their group memberships', () => {
    const doc = defaultWorkflow();
    expect(removeNodes(doc, ['model', 'prompt'])).toBe(2);
    for (const n of doc.nodes) for (const l of Object.values(n.inputs ?? {})) expect(['model', 'prompt']).not.toContain(l.node);
    expect(doc.groups).toEqual([{ title: 'Prompt', nodes: ['positive', 'negative'] }]);
    removeNodes(doc, ['positive', 'negative']);
    expect(doc.groups).toEqual([]);
  });
});

describe('copy and paste', () => {
  it('pastes under fresh ids, keeping links inside the selection and dropping those to outside', () => {
    const doc = defaultWorkflow();
    const fragment = copyFragment(doc, ['positive', 'prompt']);
    expect(fragment.nodes.find((n) => n.id === 'positive')!.inputs).toEqual({ text: { node: 'prompt', output: 'text' } });
    // The pair keeps its layout, its top-left corner moved to the paste point (read from the template, whose layout may change).
    const [px, py] = doc.nodes.find((n) => n.id === 'prompt')!.position!;
    const [qx, qy] = doc.nodes.find((n) => n.id === 'positive')!.position!;
    const ids = pasteFragment(doc, fragment, [1000, 1000]);
    expect(ids.sort()).toEqual(['positive-2', 'prompt-2']);
    const pasted = doc.nodes.find((n) => n.id === 'positive-2')!;
    expect(pasted.inputs).toEqual({ text: { node: 'prompt-2', output: 'text' } });
    expect(doc.nodes.find((n) => n.id === 'prompt-2')!.position).toEqual([1000 + px - Math.min(px, qx), 1000 + py - Math.min(py, qy)]);
    expect(pasted.position).toEqual([1000 + qx - Math.min(px, qx), 1000 + qy - Math.min(py, qy)]);
    expect(qx).not.toBe(px);
    expect(doc.nodes).toHaveLength(10);
  });
});

describe('problems shown on nodes', () => {
  it('marks an unknown node type and keeps it', () => {
    const doc = defaultWorkflow();
    doc.nodes.push({ id: 'x', type: 'frobnicate', params: { a: 1 } });
    const p = nodeProblems(doc.nodes.at(-1)!, catalog.get('frobnicate'), doc, []);
    expect(p).toEqual([{ level: 'error', message: 'Unknown node type "frobnicate": no loaded node pack provides it. It is kept as it is.' }]);
  });

  it('marks a missing model, an out-of-range value, an unknown param and an unconnected input', () => {
    const doc = defaultWorkflow();
    const model = doc.nodes.find((n) => n.id === 'model')!;
    expect(nodeProblems(model, catalog.get('load-model'), doc, ['tiny'])).toEqual([
      { level: 'error', slot: 'name', message: 'Model "skyloom-tiny" is not installed (installed: tiny)' },
    ]);
    expect(nodeProblems(model, catalog.get('load-model'), doc, ['skyloom-tiny'])).toEqual([]);
    const sampler = doc.nodes.find((n) => n.id === 'sampler')!;
    sampler.params!.steps = 500;
    sampler.params!.colour = 'red';
    delete sampler.inputs!.latent;
    expect(nodeProblems(sampler, catalog.get('dit-sampler'), doc, [])).toEqual([
      { level: 'error', slot: 'steps', message: 'steps must be at most 200' },
      { level: 'error', slot: 'colour', message: '"DiT Sampler" has no param "colour"' },
      { level: 'warning', slot: 'latent', message: 'Input "latent" (LATENT) is not connected' },
    ]);
  });

  it('maps a validation pointer to the node and the param or input', () => {
    expect(issueSlot('/nodes/5/params/steps')).toEqual({ index: 5, slot: 'steps' });
    expect(issueSlot('/nodes/2/inputs/latent/output')).toEqual({ index: 2, slot: 'latent' });
    expect(issueSlot('/nodes/0')).toEqual({ index: 0, slot: undefined });
    expect(issueSlot('/title')).toEqual({});
  });
});

describe('the model list', () => {
  it('follows the model params: a renamed model replaces the old name', () => {
    const doc = defaultWorkflow();
    expect(modelList(doc, catalog, ['tiny'])).toEqual([{ name: 'skyloom-tiny' }]);
    doc.nodes.find((n) => n.id === 'model')!.params!.name = 'tiny';
    expect(modelList(doc, catalog, ['tiny'])).toEqual([{ name: 'tiny' }]);
  });
});

describe('auto-arrange', () => {
  it('puts each node one column right of its furthest input, with no overlaps', () => {
    const doc = defaultWorkflow();
    doc.groups = [];
    const sizes = new Map(doc.nodes.map((n) => [n.id, { width: 200, height: 100 }]));
    const at = layeredLayout(doc, sizes, { x: 50, y: 20 });
    const column = (id: string) => at.get(id)![0] / 250;
    expect(['model', 'prompt'].map(column)).toEqual([0, 0]);
    expect(['positive', 'negative', 'latent'].map(column)).toEqual([1, 1, 1]);
    expect(column('sampler')).toBe(2);
    expect(column('decode')).toBe(3);
    expect(column('save')).toBe(4);
    const ys = ['positive', 'negative', 'latent'].map((id) => at.get(id)![1]).sort((a, b) => a - b);
    expect(ys).toEqual([0, 120, 240]);
  });

  it('lays a group out as a block whose box holds only its members', () => {
    const doc = defaultWorkflow(); // group "Prompt": prompt (column 0), positive and negative (column 1)
    const sizes = new Map(doc.nodes.map((n) => [n.id, { width: 200, height: 100 }]));
    const at = layeredLayout(doc, sizes, { x: 50, y: 20 });
    const box = (id: string) => ({ x0: at.get(id)![0], y0: at.get(id)![1], x1: at.get(id)![0] + 200, y1: at.get(id)![1] + 100 });
    const members = ['prompt', 'positive', 'negative'].map(box);
    const group = {
      x0: Math.min(...members.map((b) => b.x0)) - GROUP_BOX.pad,
      y0: Math.min(...members.map((b) => b.y0)) - GROUP_BOX.pad - GROUP_BOX.head,
      x1: Math.max(...members.map((b) => b.x1)) + GROUP_BOX.pad,
      y1: Math.max(...members.map((b) => b.y1)) + GROUP_BOX.pad,
    };
    expect(group.y0).toBeGreaterThanOrEqual(0);
    for (const id of ['model', 'latent', 'sampler', 'decode', 'save']) {
      const b = box(id);
      const overlaps = b.x0 < group.x1 && b.x1 > group.x0 && b.y0 < group.y1 && b.y1 > group.y0;
      expect(overlaps, id).toBe(false);
    }
  });

  it('survives a cycle in a broken file', () => {
    const doc = emptyWorkflow();
    doc.nodes = [
      { id: 'a', type: 't', inputs: { x: { node: 'b', output: 'o' } } },
      { id: 'b', type: 't', inputs: { x: { node: 'a', output: 'o' } } },
    ];
    expect(layeredLayout(doc, new Map()).size).toBe(2);
  });
});

describe('undo history', () => {
  it('undoes and redoes snapshots, merging quick edits of one field', () => {
    const h = new UndoHistory({ v: 0 }, 10, 1000);
    h.record({ v: 1 }, 'field', 0);
    h.record({ v: 2 }, 'field', 500);
    h.record({ v: 3 }, 'other', 600);
    expect(h.undo()).toEqual({ v: 2 });
    expect(h.undo()).toEqual({ v: 0 });
    expect(h.undo()).toBeUndefined();
    expect(h.redo()).toEqual({ v: 2 });
    h.record({ v: 9 });
    expect(h.canRedo).toBe(false);
    expect(h.record({ v: 9 })).toBe(false);
  });

  it('keeps at most `limit` steps', () => {
    const h = new UndoHistory(0, 3);
    for (let i = 1; i <= 10; i++) h.record(i);
    let n = 0;
    while (h.undo() !== undefined) n++;
    expect(n).toBe(3);
  });
});

describe('keyboard shortcuts', () => {
  const key = (k: string, mods: Partial<KeyboardEvent> = {}) => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods }) as KeyboardEvent;
  it('matches chords, with Cmd as Ctrl, and lists each action once', () => {
    expect(chordOf(key('z', { ctrlKey: true, shiftKey: true }))).toBe('Ctrl+Shift+Z');
    expect(actionFor(key('Enter', { metaKey: true }), false)).toBe('queue');
    expect(actionFor(key('?', { shiftKey: true }), false)).toBe('help');
    expect(actionFor(key('c', { altKey: true }), false)).toBe('collapse');
    expect(actionFor(key('m', { altKey: true }), false)).toBe('minimap');
    expect(actionFor(key('m', { ctrlKey: true }), false)).toBe('mute');
    expect(new Set(SHORTCUTS.map((s) => s.action)).size).toBe(SHORTCUTS.length);
  });
  it('matches Alt chords on the physical key, so macOS Alt+C ("ç") and Alt+M ("µ") still fire', () => {
    expect(actionFor(key('ç', { altKey: true, code: 'KeyC' }), false)).toBe('collapse');
    expect(actionFor(key('µ', { altKey: true, code: 'KeyM' }), false)).toBe('minimap');
    expect(chordOf(key('ç', { altKey: true, code: 'KeyC' }))).toBe('Alt+C');
    // With Alt the physical key decides, not the character it happened to type.
    expect(actionFor(key('µ', { altKey: true, code: 'KeyX' }), false)).toBeUndefined();
    // Without Alt the typed character still decides (layouts differ, the letter on the key is what the user reads).
    expect(actionFor(key('g', { code: 'KeyH' }), false)).toBe('gallery');
    expect(actionFor(key('Enter', { ctrlKey: true, altKey: true, code: 'Enter' }), false)).toBe('interrupt');
  });
  it('leaves typing alone in fields, except queueing and saving', () => {
    expect(actionFor(key('Backspace'), true)).toBeUndefined();
    expect(actionFor(key('z', { ctrlKey: true }), true)).toBeUndefined();
    expect(actionFor(key('Enter', { ctrlKey: true }), true)).toBe('queue');
    expect(actionFor(key('s', { ctrlKey: true }), true)).toBe('save');
    // G opens the results gallery, but a "g" typed in a prompt is a letter.
    expect(actionFor(key('g'), false)).toBe('gallery');
    expect(actionFor(key('g'), true)).toBeUndefined();
    expect(actionFor(key('g', { ctrlKey: true }), false)).toBe('group');
  });
});

describe('preview frames', () => {
  it('decodes the server encoding: metadata and the image bytes with their type', async () => {
    const metadata = { promptId: 'p', nodeId: 'sampler', step: 3, total: 20, frameCount: 16, width: 64, height: 64, fps: 8, mime: 'image/webp' as const };
    const image = new Uint8Array([1, 2, 3, 4, 5]);
    const frame = encodePreviewFrame(PREVIEW_WEBP, metadata, image);
    const decoded = decodePreview(frame.slice().buffer);
    expect(decoded.metadata).toEqual(metadata);
    expect(decoded.blob.type).toBe('image/webp');
    expect(new Uint8Array(await decoded.blob.arrayBuffer())).toEqual(image);
    expect(() => decodePreview(new ArrayBuffer(4))).toThrow(RangeError);
  });
});

describe('run this output and batches', () => {
  const doc = (): Workflow => ({
    format: 'skyloom-workflow',
    version: 3,
    nodes: [
      { id: 'a', type: 'seed', params: { value: 5 } },
      { id: 'b', type: 'mine/sampler', params: { seed: 9007199254740991 }, inputs: { x: { node: 'a', output: 'value' } } },
      { id: 'out1', type: 'save', inputs: { v: { node: 'b', output: 'v' } } },
      { id: 'c', type: 'mine/sampler', params: { seed: 7 } },
      { id: 'out2', type: 'save', inputs: { v: { node: 'c', output: 'v' } } },
    ],
    groups: [
      { title: 'g', nodes: ['c', 'out2'] },
      { title: 'h', nodes: ['a', 'out2'] },
    ],
  });
  const seedSpec = { name: 'seed', socket: 'INT', kind: 'seed', default: 0 } as const;
  const catalog = new Map([
    [
      'mine/sampler',
      {
        type: 'mine/sampler',
        version: 1,
        displayName: 'S',
        category: 'c',
        description: '',
        inputs: [],
        outputs: [],
        params: [seedSpec],
        flags: { output: false, idempotent: true },
      },
    ],
  ]) as unknown as Parameters<typeof offsetSeeds>[1];

  it('keeps only what one output needs, and the groups of what is left', () => {
    const sub = subgraphFor(doc(), 'out1');
    expect(sub.nodes.map((n) => n.id)).toEqual(['a', 'b', 'out1']);
    expect(sub.groups).toEqual([{ title: 'h', nodes: ['a'] }]);
  });

  it('moves seed params on by the batch index, wrapping at 2^53, and leaves other params alone', () => {
    const next = offsetSeeds(doc(), catalog, 2);
    expect(next.nodes.find((n) => n.id === 'c')!.params!.seed).toBe(9);
    expect(next.nodes.find((n) => n.id === 'b')!.params!.seed).toBe(1);
    expect(next.nodes.find((n) => n.id === 'a')!.params!.value).toBe(5);
    expect(offsetSeeds(doc(), catalog, 0)).toEqual(doc());
  });
});
