// Owns the small canvas UI state shared by components: the type of a dragged link, node sizes, a title being edited.

import { reactive } from 'vue';

export const dragState = reactive<{ type?: string; side?: 'input' | 'output' }>({});

/** Node sizes as measured on the canvas; the groups layer and auto-arrange read them. */
export const nodeSizes = reactive(new Map<string, { width: number; height: number }>());

/** A group whose title should open for editing (just created), by index; -1 for none. */
export const canvasUi = reactive({ editGroup: -1 });
