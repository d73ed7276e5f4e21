// Owns the Rete canvas: builds Rete nodes from the catalog, mirrors the graph store onto the canvas and user gestures back.

import type { Pinia } from 'pinia';
import { ClassicPreset, NodeEditor, type GetSchemes } from 'rete';
import { AreaExtensions, AreaPlugin } from 'rete-area-plugin';
import { ContextMenuPlugin, type ContextMenuExtra } from 'rete-context-menu-plugin';
import { ClassicFlow, ConnectionPlugin, getSourceTarget } from 'rete-connection-plugin';
import { Presets as VuePresets, VuePlugin, type VueArea2D } from 'rete-vue-plugin';
import { createApp } from 'vue';
import type { NodeCatalogEntry } from '../../../engine/types.js';
import type { Workflow, WorkflowNode } from '../../../engine/workflow.js';
import GraphConnection from '../components/GraphConnection.vue';
import GraphNode from '../components/GraphNode.vue';
import GraphSocket from '../components/GraphSocket.vue';
import { fitAround, unionBox } from '../lib/minimap';
import { FAR_ZOOM, nodeDetail } from './detail';
import { dragState, nodeSizes } from './drag-state';
import { SocketPositions } from './socket-positions';
import { checkLink, socketsCompatible } from '../lib/sockets';
import { colorMenu } from '../lib/node-colors';
import { layeredLayout } from '../lib/workflow-model';
import { useCatalogStore } from '../stores/catalog';
import { useGraphStore } from '../stores/graph';
import { useNotifyStore } from '../stores/notify';

export class SkyNode extends ClassicPreset.Node {
  constructor(
    id: string,
    readonly nodeType: string,
    readonly signature: string,
  ) {
    super(nodeType);
    this.id = id;
  }
}

export class SkyConnection extends ClassicPreset.Connection<SkyNode, SkyNode> {
  socketType = '*';
  invalid = false;
}

type Schemes = GetSchemes<SkyNode, SkyConnection>;

/** How far the canvas zooms out and in; Fit stays inside it too. */
const ZOOM_LIMITS = { min: 0.15, max: 2.5 };
type AreaExtra = VueArea2D<Schemes> | ContextMenuExtra;

export function linkId(from: string, output: string, to: string, input: string): string {
  return `${from}.${output}->${to}.${input}`;
}

/** The sockets a workflow node shows: from its catalog entry, or, for an unknown type, from its links. */
export function nodeSlots(node: WorkflowNode, entry: NodeCatalogEntry | undefined, doc: Workflow) {
  if (entry) {
    return {
      inputs: [...entry.inputs.map((i) => ({ key: i.name, type: i.type })), ...entry.params.map((p) => ({ key: p.name, type: p.socket }))],
      outputs: entry.outputs.map((o) => ({ key: o.name, type: o.type })),
    };
  }
  const outputs = new Set<string>();
  for (const n of doc.nodes) for (const l of Object.values(n.inputs ?? {})) if (l.node === node.id) outputs.add(l.output);
  return {
    inputs: Object.keys(node.inputs ?? {}).map((key) => ({ key, type: '*' })),
    outputs: [...outputs].map((key) => ({ key, type: '*' })),
  };
}

export class GraphView {
  readonly editor = new NodeEditor<Schemes>();
  readonly area: AreaPlugin<Schemes, AreaExtra>;
  readonly selector = AreaExtensions.selector();
  readonly sockets = new SocketPositions<VueArea2D<Schemes>>();
  readonly #selectable: ReturnType<typeof AreaExtensions.selectableNodes>;
  readonly #sockets = new Map<string, ClassicPreset.Socket>();
  readonly #observer: ResizeObserver;
  readonly #containerObserver: ResizeObserver;
  #detailFrame = 0;
  /** Whether each node was collapsed when its sockets were last measured: a toggle since means measuring again. */
  readonly #measuredCollapsed = new Map<string, boolean>();
  #rasterTimer?: ReturnType<typeof setTimeout>;
  #viewport = { width: 0, height: 0 };
  readonly groupLayer: HTMLElement;
  #syncing = false;
  #pending = false;
  #replacing = false;
  #running?: Promise<void>;
  /** Listeners on the window, removed with the view. */
  readonly #listening = new AbortController();

  constructor(
    readonly container: HTMLElement,
    pinia: Pinia,
  ) {
    const graph = useGraphStore(pinia);
    const catalog = useCatalogStore(pinia);
    const notify = useNotifyStore(pinia);
    this.area = new AreaPlugin<Schemes, AreaExtra>(container);
    const connection = new ConnectionPlugin<Schemes, AreaExtra>();
    // Each node is its own small Vue app; they share the page's Pinia so nodes read the stores.
    const render = new VuePlugin<Schemes, AreaExtra>({ setup: (context) => createApp(context).use(pinia) });
    const menu = new ContextMenuPlugin<Schemes>({ items: (context) => this.#menuItems(context) });

    render.addPreset(
      VuePresets.classic.setup({
        socketPositionWatcher: this.sockets,
        customize: {
          node: () => GraphNode,
          socket: () => GraphSocket,
          connection: () => GraphConnection,
        },
      }),
    );
    render.addPreset(VuePresets.contextMenu.setup({ delay: 150 }));
    // Checked before the flow drops the target's old link: a refused link must leave the graph as it was.
    connection.addPreset(
      () =>
        new ClassicFlow<Schemes, AreaExtra[]>({
          canMakeConnection: (initial, socket) => {
            const pair = getSourceTarget(initial, socket);
            if (!pair) return false;
            const [source, target] = pair;
            const from = this.editor.getNode(source.nodeId)?.outputs[source.key]?.socket.name ?? '*';
            const to = this.editor.getNode(target.nodeId)?.inputs[target.key]?.socket.name ?? '*';
            const check = checkLink(graph.doc, { node: source.nodeId, type: from }, { node: target.nodeId, type: to, name: target.key });
            if (!check.ok) {
              notify.error(check.reason!);
              this.#pickedFresh = false;
              // The classic flow keeps a refused link in hand (click-to-connect); let it go.
              setTimeout(() => connection.drop(), 0);
            }
            return check.ok;
          },
        }),
    );

    this.editor.use(this.area);
    this.area.use(connection);
    this.area.use(render);
    this.area.use(menu);

    this.#selectable = AreaExtensions.selectableNodes(this.area, this.selector, { accumulating: AreaExtensions.accumulateOnCtrl() });
    AreaExtensions.simpleNodesOrder(this.area);
    AreaExtensions.restrictor(this.area, { scaling: ZOOM_LIMITS });

    this.groupLayer = document.createElement('div');
    this.groupLayer.className = 'sk-group-layer';
    this.area.area.content.holder.prepend(this.groupLayer);

    // Panning moves one layer: the compositor shifts it instead of repainting every node (bench/editor-200.ts).
    this.area.area.content.holder.style.willChange = 'transform';
    this.#enableBoxSelect();
    this.#noSelectWhileDragging();
    container.addEventListener('dblclick', (e) => {
      if ((e.target as HTMLElement).closest('.sk-node, .sk-group, [data-testid="context-menu"]')) return;
      this.onQuickAdd?.(e.clientX, e.clientY);
    });

    this.#observer = new ResizeObserver((entries) => {
      for (const e of entries) {
        const id = (e.target as HTMLElement).dataset.nodeId;
        if (id) nodeSizes.set(id, { width: (e.target as HTMLElement).offsetWidth, height: (e.target as HTMLElement).offsetHeight });
      }
    });

    this.sockets.onMeasured = (ids) => {
      for (const id of ids) this.#measuredCollapsed.set(id, this.graph.nodeById(id)?.collapsed === true);
      this.#scheduleDetail();
    };
    this.#containerObserver = new ResizeObserver(() => {
      this.#viewport = { width: container.clientWidth, height: container.clientHeight };
      this.#scheduleDetail();
    });
    this.#containerObserver.observe(container);

    this.editor.addPipe((ctx) => {
      if (ctx.type === 'noderemoved') {
        nodeDetail.delete(ctx.data.id);
        this.#measuredCollapsed.delete(ctx.data.id);
      }
      if (ctx.type === 'connectioncreate') {
        const c = ctx.data;
        const from = this.editor.getNode(c.source)?.outputs[c.sourceOutput]?.socket.name ?? '*';
        const to = this.editor.getNode(c.target)?.inputs[c.targetInput]?.socket.name ?? '*';
        c.socketType = from;
        c.invalid = !socketsCompatible(from, to);
        if (this.#syncing) return ctx;
        const check = checkLink(graph.doc, { node: c.source, type: from }, { node: c.target, type: to, name: c.targetInput });
        if (!check.ok) return undefined;
        c.id = linkId(c.source, c.sourceOutput, c.target, c.targetInput);
        return this.#replaceInput(c.target, c.targetInput).then(() => ctx);
      }
      if (ctx.type === 'connectioncreated' && !this.#syncing) {
        const c = ctx.data;
        graph.connect(c.target, c.targetInput, { node: c.source, output: c.sourceOutput });
      }
      if (ctx.type === 'connectionremoved' && !this.#syncing && !this.#replacing) {
        const c = ctx.data;
        const link = graph.nodeById(c.target)?.inputs?.[c.targetInput];
        if (link && link.node === c.source && link.output === c.sourceOutput) graph.disconnect(c.target, c.targetInput);
      }
      return ctx;
    });

    this.area.addPipe((ctx) => {
      if (ctx.type === 'nodetranslated' && !this.#syncing) {
        graph.moveNode(ctx.data.id, [ctx.data.position.x, ctx.data.position.y]);
      }
      if (ctx.type === 'nodedragged') graph.commitMoves();
      // Double-click opens the quick-add search instead of zooming.
      if (ctx.type === 'zoom' && ctx.data.source === 'dblclick') return undefined;
      if (ctx.type === 'zoomed') {
        this.#markDistance(this.area.area.transform.k);
        this.#reraster();
      }
      if (ctx.type === 'translated' || ctx.type === 'zoomed' || ctx.type === 'nodetranslated') this.#scheduleDetail();
      return ctx;
    });

    connection.addPipe((ctx) => {
      if (ctx.type === 'connectionpick') {
        const s = ctx.data.socket;
        const node = this.editor.getNode(s.nodeId);
        const port = s.side === 'output' ? node?.outputs[s.key] : node?.inputs[s.key];
        dragState.type = port?.socket.name;
        dragState.side = s.side;
        // Picking a linked input lifts its link off; dropping that on empty canvas only unlinks.
        this.#pickedFresh = !(s.side === 'input' && this.editor.getConnections().some((c) => c.target === s.nodeId && c.targetInput === s.key));
      }
      if (ctx.type === 'connectiondrop') {
        const type = dragState.type;
        dragState.type = undefined;
        dragState.side = undefined;
        const { initial, socket, created } = ctx.data;
        if (!socket && !created && this.#pickedFresh && type !== undefined) {
          const { x, y, k } = this.area.area.transform;
          const rect = this.container.getBoundingClientRect();
          const p = this.area.area.pointer;
          this.onQuickAdd?.(rect.left + x + p.x * k, rect.top + y + p.y * k, { nodeId: initial.nodeId, key: initial.key, side: initial.side, type });
        }
      }
      return ctx;
    });

    this.graph = graph;
    this.catalog = catalog;
  }

  private graph: ReturnType<typeof useGraphStore>;
  private catalog: ReturnType<typeof useCatalogStore>;
  addAt?: (type: string, position: [number, number]) => void;
  /** Opens the quick-add search at a page point; `link` when a link was dropped on empty canvas. */
  onQuickAdd?: (clientX: number, clientY: number, link?: { nodeId: string; key: string; side: 'input' | 'output'; type: string }) => void;
  #pickedFresh = false;

  async #replaceInput(target: string, input: string): Promise<void> {
    const existing = this.editor.getConnections().filter((x) => x.target === target && x.targetInput === input);
    this.#replacing = true;
    try {
      for (const x of existing) await this.editor.removeConnection(x.id);
    } finally {
      this.#replacing = false;
    }
  }

  #menuItems(context: 'root' | SkyNode | SkyConnection) {
    if (context === 'root') {
      const at = this.area.area.pointer;
      return {
        searchBar: true,
        list: this.catalog.categories.map(([category, entries]) => ({
          label: category,
          key: category,
          handler: () => {},
          subitems: entries.map((e) => ({ label: e.displayName, key: e.type, handler: () => this.addAt?.(e.type, [at.x, at.y]) })),
        })),
      };
    }
    if (context instanceof SkyNode) {
      const ids = context.selected ? this.selectedIds() : [context.id];
      return {
        searchBar: false,
        list: [
          { label: 'Bypass  (Ctrl+B)', key: 'bypass', handler: () => this.graph.toggleMode(ids, 'bypass') },
          { label: 'Mute  (Ctrl+M)', key: 'mute', handler: () => this.graph.toggleMode(ids, 'mute') },
          { label: this.graph.nodeById(context.id)?.collapsed ? 'Expand  (Alt+C)' : 'Collapse  (Alt+C)', key: 'collapse', handler: () => this.graph.toggleCollapsed(ids) },
          { label: 'Colour', key: 'color', handler: () => {}, subitems: colorMenu(this.graph.nodeById(context.id)?.color, (c) => this.graph.setColor(ids, c)) },
          { label: 'Duplicate', key: 'duplicate', handler: () => this.duplicate(ids) },
          { label: ids.length > 1 ? `Delete ${ids.length} nodes` : 'Delete', key: 'delete', handler: () => this.graph.removeNodes(ids) },
        ],
      };
    }
    const c = context as SkyConnection;
    const at = this.area.area.pointer;
    return {
      searchBar: false,
      list: [
        { label: 'Add reroute point', key: 'reroute', handler: () => this.graph.insertReroute(c.target, c.targetInput, [at.x - 12, at.y - 12]) },
        { label: 'Remove link', key: 'unlink', handler: () => this.graph.disconnect(c.target, c.targetInput) },
      ],
    };
  }

  duplicate(ids: string[]): void {
    const fragment = this.graph.copy(ids);
    const first = fragment.nodes[0]?.position ?? [0, 0];
    const newIds = this.graph.paste(fragment, [first[0] + 40, first[1] + 40]);
    void this.afterSync().then(() => this.selectOnly(newIds));
  }

  #socket(type: string): ClassicPreset.Socket {
    let s = this.#sockets.get(type);
    if (!s) this.#sockets.set(type, (s = new ClassicPreset.Socket(type)));
    return s;
  }

  #build(node: WorkflowNode, doc: Workflow): SkyNode {
    const entry = this.catalog.byType.get(node.type);
    const slots = nodeSlots(node, entry, doc);
    const n = new SkyNode(node.id, node.type, JSON.stringify(slots));
    for (const i of slots.inputs) n.addInput(i.key, new ClassicPreset.Input(this.#socket(i.type), i.key, false));
    for (const o of slots.outputs) n.addOutput(o.key, new ClassicPreset.Output(this.#socket(o.type), o.key, true));
    return n;
  }

  /** Brings the canvas in line with the store; calls made while one runs are folded into one more pass. */
  sync(): Promise<void> {
    if (this.#syncing) {
      this.#pending = true;
      return this.#running!;
    }
    this.#syncing = true;
    this.#running = (async () => {
      try {
        do {
          this.#pending = false;
          await this.#syncOnce();
        } while (this.#pending);
        this.#scheduleDetail();
      } finally {
        this.#syncing = false;
      }
    })();
    return this.#running;
  }

  /** Resolves once the canvas reflects the store. */
  afterSync(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async #syncOnce(): Promise<void> {
    const doc = this.graph.doc;
    const wanted = new Map(doc.nodes.map((n) => [n.id, n]));
    const links = new Map<string, { from: string; output: string; to: string; input: string }>();
    for (const node of doc.nodes) {
      for (const [input, l] of Object.entries(node.inputs ?? {})) {
        if (wanted.has(l.node)) links.set(linkId(l.node, l.output, node.id, input), { from: l.node, output: l.output, to: node.id, input });
      }
    }
    for (const c of this.editor.getConnections()) if (!links.has(c.id)) await this.editor.removeConnection(c.id);
    for (const n of this.editor.getNodes()) {
      const want = wanted.get(n.id);
      const stale = !want || want.type !== n.nodeType || JSON.stringify(nodeSlots(want, this.catalog.byType.get(want.type), doc)) !== n.signature;
      if (!stale) continue;
      for (const c of this.editor.getConnections()) if (c.source === n.id || c.target === n.id) await this.editor.removeConnection(c.id);
      if (n.selected) await this.selector.remove({ id: n.id, label: 'node' });
      const el = this.area.nodeViews.get(n.id)?.element;
      if (el) this.#observer.unobserve(el);
      nodeSizes.delete(n.id);
      await this.editor.removeNode(n.id);
    }
    for (const node of doc.nodes) {
      if (!this.editor.getNode(node.id)) {
        await this.editor.addNode(this.#build(node, doc));
        const el = this.area.nodeViews.get(node.id)?.element;
        if (el) {
          el.dataset.nodeId = node.id;
          this.#observer.observe(el);
        }
      }
      const [x, y] = node.position ?? [0, 0];
      const view = this.area.nodeViews.get(node.id);
      if (view && (view.position.x !== x || view.position.y !== y)) await this.area.translate(node.id, { x, y });
    }
    for (const [id, l] of links) {
      if (this.editor.getConnection(id)) continue;
      const source = this.editor.getNode(l.from);
      const target = this.editor.getNode(l.to);
      if (!source?.outputs[l.output] || !target?.inputs[l.input]) continue;
      const c = new SkyConnection(source, l.output, target, l.input);
      c.id = id;
      await this.editor.addConnection(c);
    }
  }

  /**
   * Chromium keeps a `will-change: transform` layer at the scale it was first rasterised at, so after
   * a zoom it would scale old tiles (blurry when zoomed in; far more pixels than shown when zoomed
   * out, which slows every pan frame). Once a zoom settles, the layer is dropped for one frame and
   * promoted again, which rasterises it at the new scale.
   */
  #reraster(): void {
    clearTimeout(this.#rasterTimer);
    this.#rasterTimer = setTimeout(() => {
      const holder = this.area.area.content.holder;
      holder.style.willChange = 'auto';
      requestAnimationFrame(() => requestAnimationFrame(() => (holder.style.willChange = 'transform')));
    }, 250);
  }

  /**
   * Far out, a node's text is unreadable: the canvas is marked so node bodies skip painting it
   * (layout and sockets stay, so links keep their ends), which is what keeps a big graph fluid.
   */
  #markDistance(k: number): void {
    this.container.classList.toggle('sk-far', k < 0.5);
  }

  #scheduleDetail(): void {
    if (!this.#detailFrame) {
      this.#detailFrame = requestAnimationFrame(() => {
        this.#detailFrame = 0;
        this.#updateDetail();
      });
    }
  }

  /**
   * Decides per node how much to draw (bench/editor-200.ts): nodes off screen keep only their box
   * (culled), and far out nodes show only their title bar. Either keeps the node's measured size and
   * socket offsets, so links still end at the right sockets. A node is drawn whole until it has
   * been measured in its current collapsed state, and while a field in it has the focus.
   */
  #updateDetail(): void {
    const { x, y, k } = this.area.area.transform;
    // From the observer: reading the container's size here would force a style pass on every pan frame.
    const { width, height } = this.#viewport;
    // Half a screen of margin on every side: a pan reaches drawn nodes before the next pass catches up.
    const left = (-x - width / 2) / k;
    const top = (-y - height / 2) / k;
    const right = (1.5 * width - x) / k;
    const bottom = (1.5 * height - y) / k;
    const far = k < FAR_ZOOM;
    // A field being typed in keeps its node whole (a focused button does not: it holds no input).
    const active = document.activeElement as HTMLElement | null;
    const focused = active?.matches('input, textarea, select, [contenteditable]') ? active.closest<HTMLElement>('[data-node-id]')?.dataset.nodeId : undefined;
    for (const [id, view] of this.area.nodeViews) {
      const size = nodeSizes.get(id);
      const node = this.editor.getNode(id);
      let detail: 'full' | 'far' | 'culled' = 'full';
      const measured = this.sockets.measured(id) && this.#measuredCollapsed.get(id) === (this.graph.nodeById(id)?.collapsed === true);
      if (size && node && node.nodeType !== 'reroute' && id !== focused && measured) {
        const { x: nx, y: ny } = view.position;
        const visible = nx < right && nx + size.width > left && ny < bottom && ny + size.height > top;
        detail = !visible ? 'culled' : far ? 'far' : 'full';
      }
      const now = nodeDetail.get(id) ?? 'full';
      if (now === detail) continue;
      if (detail === 'full') nodeDetail.delete(id);
      else nodeDetail.set(id, detail);
    }
  }

  /** Shift+drag on the empty canvas draws a rectangle and selects the nodes it touches (Ctrl adds to the selection). */
  #enableBoxSelect(): void {
    const container = this.container;
    container.addEventListener(
      'pointerdown',
      (e) => {
        if (!e.shiftKey || e.button !== 0 || (e.target as HTMLElement).closest('.sk-node, .sk-group')) return;
        e.stopImmediatePropagation();
        e.preventDefault();
        const rect = container.getBoundingClientRect();
        const start = { x: e.clientX, y: e.clientY };
        const box = document.createElement('div');
        box.className = 'sk-box-select';
        container.append(box);
        const place = (x: number, y: number) => {
          Object.assign(box.style, {
            left: `${Math.min(start.x, x) - rect.left}px`,
            top: `${Math.min(start.y, y) - rect.top}px`,
            width: `${Math.abs(x - start.x)}px`,
            height: `${Math.abs(y - start.y)}px`,
          });
        };
        place(e.clientX, e.clientY);
        const move = (ev: PointerEvent) => place(ev.clientX, ev.clientY);
        const up = (ev: PointerEvent) => {
          window.removeEventListener('pointermove', move);
          window.removeEventListener('pointerup', up);
          box.remove();
          const [x0, y0] = this.toCanvas(Math.min(start.x, ev.clientX), Math.min(start.y, ev.clientY));
          const [x1, y1] = this.toCanvas(Math.max(start.x, ev.clientX), Math.max(start.y, ev.clientY));
          const hits = this.editor.getNodes().filter((n) => {
            const view = this.area.nodeViews.get(n.id);
            if (!view) return false;
            const { x, y } = view.position;
            return x < x1 && x + view.element.offsetWidth > x0 && y < y1 && y + view.element.offsetHeight > y0;
          });
          const ids = hits.map((n) => n.id);
          if (ev.ctrlKey || ev.metaKey) void this.selectOnly([...new Set([...this.selectedIds(), ...ids])]);
          else void this.selectOnly(ids);
        };
        window.addEventListener('pointermove', move);
        window.addEventListener('pointerup', up);
      },
      { capture: true },
    );
  }

  /**
   * A drag that starts outside a text field (panning, moving a node) selects no text: the browser
   * would otherwise start a text selection at the press and stretch it over every title, label and
   * field the pointer crosses. A press inside a field, or on text styled `user-select: text`, keeps
   * the browser's selection as it is.
   */
  #noSelectWhileDragging(): void {
    const container = this.container;
    let dragging = false;
    const end = () => {
      dragging = false;
      container.classList.remove('sk-dragging');
    };
    container.addEventListener(
      'pointerdown',
      (e) => {
        if ((e.target as HTMLElement).closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])')) return;
        // Text styled as selectable (a node's error list, for copying) keeps the browser's selection too.
        for (let el = e.target as HTMLElement | null; el && el !== container; el = el.parentElement) if (getComputedStyle(el).userSelect === 'text') return;
        dragging = true;
        container.classList.add('sk-dragging');
      },
      { capture: true },
    );
    container.addEventListener('selectstart', (e) => {
      if (dragging) e.preventDefault();
    });
    window.addEventListener('pointerup', end, { signal: this.#listening.signal });
    window.addEventListener('pointercancel', end, { signal: this.#listening.signal });
  }

  selectedIds(): string[] {
    return this.editor
      .getNodes()
      .filter((n) => n.selected)
      .map((n) => n.id);
  }

  async selectOnly(ids: string[]): Promise<void> {
    await this.selector.unselectAll();
    for (const id of ids) if (this.editor.getNode(id)) await this.#selectable.select(id, true);
  }

  selectAll(): Promise<void> {
    return this.selectOnly(this.editor.getNodes().map((n) => n.id));
  }

  /** Converts a point on the page to canvas coordinates. */
  toCanvas(clientX: number, clientY: number): [number, number] {
    const rect = this.container.getBoundingClientRect();
    const { x, y, k } = this.area.area.transform;
    return [(clientX - rect.left - x) / k, (clientY - rect.top - y) / k];
  }

  /** The canvas point at the middle of the visible area. */
  center(): [number, number] {
    const rect = this.container.getBoundingClientRect();
    return this.toCanvas(rect.left + rect.width / 2, rect.top + rect.height / 2);
  }

  /** Shows every node, clear of the minimap when the view leaves room for that. */
  async zoomToFit(): Promise<void> {
    const nodes = this.editor.getNodes();
    if (nodes.length === 0) return;
    const sizes = this.#measure();
    const boxes = nodes.flatMap((n) => {
      const view = this.area.nodeViews.get(n.id);
      const size = sizes.get(n.id);
      return view && size ? [{ x: view.position.x, y: view.position.y, w: size.width, h: size.height }] : [];
    });
    const content = unionBox(boxes);
    if (!content) return;
    const rect = this.container.getBoundingClientRect();
    const map = this.container.parentElement?.querySelector('.sk-minimap')?.getBoundingClientRect();
    // The minimap's box on the canvas, with a gap so no node edge touches it.
    const obstacle = map && map.width > 0 ? { x: map.left - rect.left - 8, y: map.top - rect.top - 8, w: map.width + 16, h: map.height + 16 } : undefined;
    const t = fitAround(content, rect.width, rect.height, obstacle, 0.92, ZOOM_LIMITS);
    await this.area.area.zoom(t.k, 0, 0);
    await this.area.area.translate(t.x, t.y);
  }

  #measure(): Map<string, { width: number; height: number }> {
    const sizes = new Map<string, { width: number; height: number }>();
    for (const n of this.editor.getNodes()) {
      const el = this.area.nodeViews.get(n.id)?.element;
      if (el) sizes.set(n.id, { width: el.offsetWidth, height: el.offsetHeight });
    }
    return sizes;
  }

  /** Lays the graph out in columns by depth; `asLoad` when it is part of opening a file. */
  async arrange(options: { asLoad?: boolean } = {}): Promise<void> {
    this.graph.setPositions(layeredLayout(this.graph.doc, this.#measure()), options);
    await this.sync();
    await this.zoomToFit();
  }

  /** Waits until the nodes' Vue apps have rendered (two frames). */
  settle(): Promise<void> {
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
  }

  /** After opening a document: show it whole, laid out first only when it has no positions. */
  async present(): Promise<void> {
    await this.sync();
    await this.settle();
    if (this.graph.doc.nodes.length === 0) {
      // An empty document starts at natural size with the origin near the top left.
      await this.area.area.zoom(1, 0, 0);
      await this.area.area.translate(80, 80);
      return;
    }
    // A file's positions are the artist's layout: kept as they are, overlaps included (Arrange
    // is a button away). Only a file with no positions at all (written by hand or a script) is laid out.
    if (this.graph.doc.nodes.every((n) => !n.position)) await this.arrange({ asLoad: true });
    else await this.zoomToFit();
  }

  destroy(): void {
    this.#listening.abort();
    this.#observer.disconnect();
    this.#containerObserver.disconnect();
    clearTimeout(this.#rasterTimer);
    if (this.#detailFrame) cancelAnimationFrame(this.#detailFrame);
    nodeDetail.clear();
    this.area.destroy();
  }
}
