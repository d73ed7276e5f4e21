// Owns the palette an artist colours nodes from: a few dark, distinct hues that keep white titles readable.

export interface NodeColor {
  name: string;
  /** `#rrggbb`, as the workflow format stores it. */
  value: string;
}

export const NODE_COLORS: readonly NodeColor[] = [
  { name: 'Red', value: '#a33b3b' },
  { name: 'Orange', value: '#a8602a' },
  { name: 'Yellow', value: '#8f7a22' },
  { name: 'Green', value: '#357a44' },
  { name: 'Cyan', value: '#26787a' },
  { name: 'Blue', value: '#34589c' },
  { name: 'Purple', value: '#68449c' },
  { name: 'Pink', value: '#9a4274' },
  { name: 'Grey', value: '#545a68' },
];

/** The node menu's colour entries, the current one ticked, then one to take the colour off. */
export function colorMenu(current: string | undefined, pick: (color: string | undefined) => void): Array<{ label: string; key: string; handler: () => void }> {
  return [
    ...NODE_COLORS.map((c) => ({ label: `${c.value === current?.toLowerCase() ? '✓ ' : ''}${c.name}`, key: `color-${c.name}`, handler: () => pick(c.value) })),
    { label: 'No colour', key: 'color-none', handler: () => pick(undefined) },
  ];
}
