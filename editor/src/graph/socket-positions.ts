// Owns where each socket sits on its node: measured from the DOM once per frame for all nodes that changed, and kept per node so links keep their ends while a node's body is not drawn (culled or far).

import type { BaseSchemes, NodeId, Scope } from 'rete';
import { AreaPlugin } from 'rete-area-plugin';
import type { SocketPositionWatcher } from 'rete-render-utils';

type Side = 'input' | 'output';
type Point = { x: number; y: number };
type Listener = { side: Side; key: string; change: (p: Point) => void };

/** How far beyond a socket's centre a link ends, outward (the same as Rete's DOM watcher). */
const LINK_OVERHANG = 12;

/**
 * A socket position watcher for Rete's classic render preset.
 *
 * Rete's own watcher reads the layout once per socket as each one mounts (≈ 2,000 forced layouts
 * for a 200-node graph, each over a growing page) and looks positions up by scanning every socket;
 * it also forgets a socket as soon as its element unmounts. This one marks nodes dirty and measures
 * them all in one frame, indexes by node, and keeps a node's offsets until the node is removed, so
 * a node may drop its body (culling, far zoom) without its links losing their ends.
 */
export class SocketPositions<Signal = never> implements SocketPositionWatcher<Scope<never, [Signal]>> {
  #area?: AreaPlugin<BaseSchemes, never>;
  /** Socket centres (with the link overhang) relative to the node's top left, in canvas units. */
  readonly #offsets = new Map<NodeId, Map<string, Point>>();
  /** The mounted socket elements of each node. */
  readonly #elements = new Map<NodeId, Map<string, HTMLElement>>();
  readonly #owners = new WeakMap<HTMLElement, { nodeId: NodeId; slot: string }>();
  readonly #listeners = new Map<NodeId, Set<Listener>>();
  readonly #dirty = new Set<NodeId>();
  #frame = 0;
  /** Called after a frame's measuring with the nodes that were measured. */
  onMeasured?: (nodeIds: NodeId[]) => void;

  attach(scope: Scope<never, [Signal]>): void {
    if (this.#area || !scope.hasParent()) return;
    const area = scope.parentScope<AreaPlugin<BaseSchemes, never>>(AreaPlugin);
    this.#area = area;
    area.addPipe((context) => {
      const ctx = context as { type: string; data: Record<string, unknown> };
      if (ctx.type === 'rendered' && ctx.data.type === 'socket') {
        const { nodeId, side, key, element } = ctx.data as { nodeId: NodeId; side: Side; key: string; element: HTMLElement };
        const slot = `${side}:${key}`;
        let els = this.#elements.get(nodeId);
        if (!els) this.#elements.set(nodeId, (els = new Map()));
        els.set(slot, element);
        this.#owners.set(element, { nodeId, slot });
        this.#markDirty(nodeId);
      } else if (ctx.type === 'rendered' && ctx.data.type === 'node') {
        // A node's own re-render (a progress bar, an error list) can move its sockets.
        this.#markDirty((ctx.data.payload as { id: NodeId }).id);
      } else if (ctx.type === 'unmount') {
        const owner = this.#owners.get(ctx.data.element as HTMLElement);
        if (owner && this.#elements.get(owner.nodeId)?.get(owner.slot) === ctx.data.element) this.#elements.get(owner.nodeId)!.delete(owner.slot);
      } else if (ctx.type === 'nodetranslated') {
        this.#notify((ctx.data as { id: NodeId }).id);
      } else if (ctx.type === 'noderemoved') {
        const id = (ctx.data as { id: NodeId }).id;
        this.#offsets.delete(id);
        this.#elements.delete(id);
        this.#dirty.delete(id);
      }
      return context;
    });
  }

  listen(nodeId: NodeId, side: Side, key: string, change: (p: Point) => void): () => void {
    const listener: Listener = { side, key, change };
    let set = this.#listeners.get(nodeId);
    if (!set) this.#listeners.set(nodeId, (set = new Set()));
    set.add(listener);
    this.#call(nodeId, listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(nodeId) === set) this.#listeners.delete(nodeId);
    };
  }

  /** Whether a node's socket offsets are known (it has been drawn whole at least once). */
  measured(nodeId: NodeId): boolean {
    return this.#offsets.has(nodeId);
  }

  /** The socket's link end in canvas coordinates, when known. */
  position(nodeId: NodeId, side: Side, key: string): Point | undefined {
    const offset = this.#offsets.get(nodeId)?.get(`${side}:${key}`);
    const view = this.#area?.nodeViews.get(nodeId);
    return offset && view ? { x: offset.x + view.position.x, y: offset.y + view.position.y } : undefined;
  }

  /** Measures the dirty nodes now instead of at the next frame (after a layout the caller already forced). */
  flush(): void {
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    this.#measure();
  }

  #markDirty(nodeId: NodeId): void {
    this.#dirty.add(nodeId);
    if (!this.#frame) this.#frame = requestAnimationFrame(() => this.flush());
  }

  #measure(): void {
    const changed: NodeId[] = [];
    const measured: NodeId[] = [];
    const k = this.#area?.area.transform.k ?? 1;
    // All reads happen here, together: one layout for every node that changed since the last frame.
    for (const nodeId of this.#dirty) {
      const view = this.#area?.nodeViews.get(nodeId);
      const els = this.#elements.get(nodeId);
      if (!view || !els || els.size === 0) continue;
      const base = view.element.getBoundingClientRect();
      let offsets = this.#offsets.get(nodeId);
      if (!offsets) this.#offsets.set(nodeId, (offsets = new Map()));
      measured.push(nodeId);
      let moved = false;
      for (const [slot, el] of els) {
        if (!el.isConnected) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        const side = slot.startsWith('input:') ? -1 : 1;
        const p = { x: (r.left + r.width / 2 - base.left) / k + side * LINK_OVERHANG, y: (r.top + r.height / 2 - base.top) / k };
        const old = offsets.get(slot);
        if (!old || Math.abs(old.x - p.x) > 0.25 || Math.abs(old.y - p.y) > 0.25) {
          offsets.set(slot, p);
          moved = true;
        }
      }
      if (moved) changed.push(nodeId);
    }
    this.#dirty.clear();
    for (const id of changed) this.#notify(id);
    if (measured.length) this.onMeasured?.(measured);
  }

  #notify(nodeId: NodeId): void {
    const set = this.#listeners.get(nodeId);
    if (set) for (const l of set) this.#call(nodeId, l);
  }

  #call(nodeId: NodeId, l: Listener): void {
    const p = this.position(nodeId, l.side, l.key);
    if (p) l.change(p);
  }
}
