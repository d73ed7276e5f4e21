// @vitest-environment happy-dom
// Sockets on the canvas: coloured by type, and faded while a link of a type they cannot take is dragged.

import { mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import GraphSocket from '../../editor/src/components/GraphSocket.vue';
import { dragState } from '../../editor/src/graph/drag-state';
import { socketColor } from '../../editor/src/lib/sockets';

afterEach(() => {
  dragState.type = undefined;
  dragState.side = undefined;
});

describe('GraphSocket', () => {
  it('is coloured by its type and names it', () => {
    const w = mount(GraphSocket, { props: { data: { name: 'LATENT' } } });
    expect(w.attributes('style')).toContain(`--sock: ${socketColor('LATENT')}`);
    expect(w.attributes('title')).toBe('LATENT');
  });

  it('fades while an incompatible link is dragged, and stays lit for a compatible one or "*"', async () => {
    const latent = mount(GraphSocket, { props: { data: { name: 'LATENT' } } });
    const model = mount(GraphSocket, { props: { data: { name: 'MODEL' } } });
    const any = mount(GraphSocket, { props: { data: { name: '*' } } });
    dragState.type = 'LATENT';
    dragState.side = 'output';
    await latent.vm.$nextTick();
    expect(latent.classes()).not.toContain('faded');
    expect(model.classes()).toContain('faded');
    expect(any.classes()).not.toContain('faded');
    dragState.type = undefined;
    await model.vm.$nextTick();
    expect(model.classes()).not.toContain('faded');
  });
});
