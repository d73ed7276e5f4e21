// Owns the keyboard shortcuts: one table the key handler matches and the help panel lists.

export type Action =
  | 'queue'
  | 'interrupt'
  | 'undo'
  | 'redo'
  | 'delete'
  | 'copy'
  | 'cut'
  | 'paste'
  | 'duplicate'
  | 'selectAll'
  | 'save'
  | 'saveAs'
  | 'open'
  | 'library'
  | 'gallery'
  | 'group'
  | 'bypass'
  | 'mute'
  | 'collapse'
  | 'minimap'
  | 'fit'
  | 'arrange'
  | 'search'
  | 'help'
  | 'escape';

export interface Shortcut {
  action: Action;
  keys: string[];
  label: string;
  /** Also fires while typing in a field. */
  inFields?: boolean;
}

export const SHORTCUTS: Shortcut[] = [
  { action: 'queue', keys: ['Ctrl+Enter'], label: 'Queue the workflow', inFields: true },
  { action: 'interrupt', keys: ['Ctrl+Alt+Enter'], label: 'Interrupt the running prompt', inFields: true },
  { action: 'undo', keys: ['Ctrl+Z'], label: 'Undo' },
  { action: 'redo', keys: ['Ctrl+Shift+Z', 'Ctrl+Y'], label: 'Redo' },
  { action: 'delete', keys: ['Delete', 'Backspace'], label: 'Delete the selected nodes' },
  { action: 'copy', keys: ['Ctrl+C'], label: 'Copy the selected nodes' },
  { action: 'cut', keys: ['Ctrl+X'], label: 'Cut the selected nodes' },
  { action: 'paste', keys: ['Ctrl+V'], label: 'Paste at the pointer' },
  { action: 'duplicate', keys: ['Ctrl+D'], label: 'Duplicate the selected nodes' },
  { action: 'selectAll', keys: ['Ctrl+A'], label: 'Select every node (Ctrl+click adds one)' },
  { action: 'group', keys: ['Ctrl+G'], label: 'Group the selected nodes' },
  { action: 'bypass', keys: ['Ctrl+B'], label: 'Bypass the selected nodes (their inputs pass through)' },
  { action: 'mute', keys: ['Ctrl+M'], label: 'Mute the selected nodes (they and what needs them do not run)' },
  { action: 'collapse', keys: ['Alt+C'], label: 'Collapse the selected nodes to their title bars, or expand them' },
  { action: 'minimap', keys: ['Alt+M'], label: 'Show or hide the minimap' },
  { action: 'save', keys: ['Ctrl+S'], label: 'Save to the library', inFields: true },
  { action: 'saveAs', keys: ['Ctrl+Shift+S'], label: 'Save to the library as…', inFields: true },
  { action: 'open', keys: ['Ctrl+O'], label: 'Open a workflow or output file', inFields: true },
  { action: 'library', keys: ['Ctrl+L'], label: 'Workflow library' },
  { action: 'gallery', keys: ['G'], label: 'Results gallery: outputs of past prompts' },
  { action: 'fit', keys: ['F'], label: 'Zoom to fit' },
  { action: 'arrange', keys: ['Shift+A'], label: 'Auto-arrange the graph' },
  { action: 'search', keys: ['/', 'Ctrl+K'], label: 'Search nodes in the palette' },
  { action: 'help', keys: ['?', 'F1'], label: 'This help' },
  { action: 'escape', keys: ['Escape'], label: 'Close a panel, clear the selection', inFields: true },
];

/**
 * The chord of a key event as written in the table ("Ctrl+Shift+Z"); Cmd counts as Ctrl.
 * With Alt held the letter comes from the physical key (`e.code`), because on macOS Alt+C types "ç"
 * and Alt+M "µ", so `e.key` would never read as the letter in the table.
 */
export function chordOf(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey'> & { code?: string }): string {
  const parts: string[] = [];
  if (e.ctrlKey || e.metaKey) parts.push('Ctrl');
  if (e.altKey) parts.push('Alt');
  const physical = e.altKey ? /^(?:Key([A-Z])|Digit([0-9]))$/.exec(e.code ?? '') : null;
  let key = physical ? (physical[1] ?? physical[2]) : e.key.length === 1 ? e.key.toUpperCase() : e.key;
  // "?" and "/" are typed with Shift on many layouts; match them as themselves.
  if (e.shiftKey && !(key === '?' || key === '/')) parts.push('Shift');
  if (key === ' ') key = 'Space';
  parts.push(key);
  return parts.join('+');
}

export function actionFor(e: KeyboardEvent, inField: boolean): Action | undefined {
  const chord = chordOf(e);
  const hit = SHORTCUTS.find((s) => s.keys.includes(chord));
  if (!hit || (inField && !hit.inFields)) return undefined;
  return hit.action;
}
