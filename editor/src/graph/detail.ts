// Owns how much of each node the canvas draws: whole, the far form (title bar on a box of the node's size), or only the box (culled, off screen).

import { reactive } from 'vue';

/** `full` is the node as built; `far` and `culled` keep its measured box so links, groups and arrange see the same geometry. */
export type NodeDetail = 'full' | 'far' | 'culled';

/** Below this zoom a node's widgets are too small to use or read: nodes are drawn in their far form. */
export const FAR_ZOOM = 0.4;

/** The detail of each node that is not drawn in full (absent: full). GraphView decides; GraphNode reads. */
export const nodeDetail = reactive(new Map<string, Exclude<NodeDetail, 'full'>>());
