// Owns the shipped workflows the editor offers as templates (read from workflows/ at build time).

import type { Workflow } from '../../engine/workflow.js';

const files = import.meta.glob<Workflow>('../../workflows/*.json', { eager: true, import: 'default' });

/** Every shipped workflow, the default (text-to-video.json) first. */
export const TEMPLATES: Array<{ file: string; workflow: Workflow }> = Object.entries(files)
  .filter(([, w]) => (w as Partial<Workflow>).format === 'skyloom-workflow')
  .map(([path, workflow]) => ({ file: path.split('/').pop()!, workflow }))
  .sort((a, b) => (a.file === 'text-to-video.json' ? -1 : b.file === 'text-to-video.json' ? 1 : a.file.localeCompare(b.file)));

export const DEFAULT_WORKFLOW: Workflow = TEMPLATES[0]!.workflow;
