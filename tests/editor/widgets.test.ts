// @vitest-environment happy-dom
// Param widgets: the value rules (as typed, steps, seeds) and the components for each param kind.

import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import ParamWidget from '../../editor/src/components/ParamWidget.vue';
import type { CatalogParam } from '../../editor/src/lib/workflow-model';
import { coerceNumber, formatNumber, MAX_SEED, randomSeed, stepNumber, stepOf, valueProblem } from '../../editor/src/lib/widgets';

const steps: CatalogParam = { name: 'steps', socket: 'INT', kind: 'int', default: 20, min: 1, max: 200 };
const guidance: CatalogParam = { name: 'guidance', socket: 'FLOAT', kind: 'float', default: 4, min: 0, max: 30, step: 0.5 };
const width: CatalogParam = { name: 'width', socket: 'INT', kind: 'int', default: 64, min: 16, max: 4096, step: 16 };
const seed: CatalogParam = { name: 'seed', socket: 'INT', kind: 'seed', default: 42 };
const sampler: CatalogParam = { name: 'sampler', socket: 'TEXT', kind: 'enum', default: 'euler', choices: ['euler', 'heun'] };
const flag: CatalogParam = { name: 'randomize', socket: 'BOOLEAN', kind: 'boolean', default: false };
const prompt: CatalogParam = { name: 'text', socket: 'TEXT', kind: 'string', default: '', multiline: true };
const name: CatalogParam = { name: 'name', socket: 'TEXT', kind: 'string', default: 'skyloom-tiny' };

type NumberSpec = Parameters<typeof coerceNumber>[0];

describe('number rules', () => {
  it('keeps a typed value as typed: never clamped, rounded or snapped', () => {
    expect(coerceNumber(steps as NumberSpec, '400')).toBe(400);
    expect(coerceNumber(steps as NumberSpec, '0')).toBe(0);
    expect(coerceNumber(steps as NumberSpec, '12.6')).toBe(12.6);
    expect(coerceNumber(guidance as NumberSpec, '-3')).toBe(-3);
    expect(coerceNumber(guidance as NumberSpec, '7.25')).toBe(7.25);
    expect(coerceNumber(width as NumberSpec, '50')).toBe(50);
  });

  it('rejects text that is not a number, so the widget keeps its value', () => {
    expect(coerceNumber(steps as NumberSpec, 'abc')).toBeUndefined();
    expect(coerceNumber(steps as NumberSpec, '')).toBeUndefined();
    expect(coerceNumber(steps as NumberSpec, 'Infinity')).toBeUndefined();
  });

  it('steps by the spec step (default 1 for ints, 0.01 for floats), clamped', () => {
    expect(stepOf(width as NumberSpec)).toBe(16);
    expect(stepOf(steps as NumberSpec)).toBe(1);
    expect(stepOf({ kind: 'float', default: 0 } as NumberSpec)).toBe(0.01);
    expect(stepNumber(width as NumberSpec, 64, 1)).toBe(80);
    expect(stepNumber(guidance as NumberSpec, 4, -1)).toBe(3.5);
    expect(stepNumber(guidance as NumberSpec, 0.2, -1)).toBe(0);
    expect(stepNumber(steps as NumberSpec, 195, 1, 10)).toBe(200);
    expect(stepNumber({ kind: 'float', default: 0, step: 0.1 } as NumberSpec, 0.2, 1)).toBe(0.3);
  });

  it('keeps seeds whole and within [0, 2^53 - 1]', () => {
    expect(valueProblem(seed, -5)).toBe('must be at least 0');
    expect(valueProblem(seed, 1e300)).toBe(`must be at most ${MAX_SEED}`);
    expect(valueProblem(seed, 1234567890123456)).toBeUndefined();
    const draws = [0.999999, 0.5, 0, 0.25];
    let i = 0;
    const s = randomSeed(() => draws[i++ % draws.length]!);
    expect(Number.isSafeInteger(s)).toBe(true);
    expect(s).toBeGreaterThan(2 ** 32);
    expect(randomSeed(() => 0)).toBe(0);
    expect(randomSeed(() => 0.9999999999)).toBeLessThanOrEqual(MAX_SEED);
  });

  it('names what is wrong with a value', () => {
    expect(valueProblem(steps, 300)).toBe('must be at most 200');
    expect(valueProblem(steps, 2.5)).toBe('must be a whole number');
    expect(valueProblem(width, 50)).toBe('must be on steps of 16 from 16 (48 or 64)');
    expect(valueProblem(width, 80)).toBeUndefined();
    expect(valueProblem(sampler, 'dpm')).toBe('must be one of euler, heun');
    expect(valueProblem(flag, 'yes')).toBe('must be true or false');
    expect(valueProblem(guidance, 4)).toBeUndefined();
    expect(formatNumber(guidance as NumberSpec, 7.5)).toBe('7.5');
  });
});

describe('ParamWidget', () => {
  it('commits a typed out-of-range number as typed, on blur (the node shows the error)', async () => {
    const w = mount(ParamWidget, { props: { spec: steps, modelValue: 20 } });
    const input = w.get('input');
    await input.trigger('focus');
    await input.setValue('999');
    await input.trigger('blur');
    expect(w.emitted('update:modelValue')).toEqual([[999]]);
    expect((input.element as HTMLInputElement).value).toBe('999');
  });

  it('keeps the old value for text that is not a number', async () => {
    const w = mount(ParamWidget, { props: { spec: steps, modelValue: 20 } });
    const input = w.get('input');
    await input.trigger('focus');
    await input.setValue('twenty');
    await input.trigger('blur');
    expect(w.emitted('update:modelValue')).toBeUndefined();
    expect((input.element as HTMLInputElement).value).toBe('20');
  });

  it('steps with the arrow buttons and the arrow keys', async () => {
    const w = mount(ParamWidget, { props: { spec: width, modelValue: 64 } });
    await w.get('button[aria-label="increase"]').trigger('click');
    await w.get('button[aria-label="decrease"]').trigger('click');
    await w.get('input').trigger('keydown', { key: 'ArrowUp', shiftKey: true });
    expect(w.emitted('update:modelValue')).toEqual([[80], [48], [224]]);
  });

  it('scrubs a number by dragging its label sideways, clamped to the range', async () => {
    const w = mount(ParamWidget, { props: { spec: steps, modelValue: 20 }, attachTo: document.body });
    await w.get('.scrub').trigger('pointerdown', { button: 0, clientX: 100 });
    window.dispatchEvent(new PointerEvent('pointermove', { clientX: 130 }));
    window.dispatchEvent(new PointerEvent('pointermove', { clientX: 100 - 6 * 50 }));
    window.dispatchEvent(new PointerEvent('pointerup', {}));
    window.dispatchEvent(new PointerEvent('pointermove', { clientX: 400 }));
    expect(w.emitted('update:modelValue')).toEqual([[25], [1]]);
    w.unmount();
  });

  it('shows how far a ranged value is through its range', () => {
    const w = mount(ParamWidget, { props: { spec: guidance, modelValue: 15 } });
    expect(w.get('.stepper').attributes('style')).toContain('--fill: 50%');
  });

  it('offers the choices of an enum and flags a value not among them', async () => {
    const w = mount(ParamWidget, { props: { spec: sampler, modelValue: 'dpm' } });
    const options = w.findAll('option').map((o) => o.text());
    expect(options).toEqual(['dpm (invalid)', 'euler', 'heun']);
    await w.get('select').setValue('heun');
    expect(w.emitted('update:modelValue')).toEqual([['heun']]);
  });

  it('toggles a boolean', async () => {
    const w = mount(ParamWidget, { props: { spec: flag, modelValue: false } });
    await w.get('input[type="checkbox"]').setValue(true);
    expect(w.emitted('update:modelValue')).toEqual([[true]]);
  });

  it('edits a multiline prompt in a textarea as it is typed', async () => {
    const w = mount(ParamWidget, { props: { spec: prompt, modelValue: 'a red circle' } });
    await w.get('textarea').setValue('a blue square');
    expect(w.emitted('update:modelValue')).toEqual([['a blue square']]);
  });

  it('suggests installed models for a model name', () => {
    const w = mount(ParamWidget, { props: { spec: name, modelValue: 'tiny', suggestions: ['tiny', 'skyloom-tiny'] } });
    expect(w.findAll('datalist option').map((o) => o.attributes('value'))).toEqual(['tiny', 'skyloom-tiny']);
    expect(w.get('input').attributes('list')).toBe(w.get('datalist').attributes('id'));
  });

  it('randomizes a seed and switches it between fixed and randomize', async () => {
    const w = mount(ParamWidget, { props: { spec: seed, modelValue: 42, seedMode: 'fixed' } });
    await w.get('[data-action="randomize-seed"]').trigger('click');
    const [[value]] = w.emitted('update:modelValue') as [[number]];
    expect(Number.isSafeInteger(value)).toBe(true);
    expect(value).not.toBe(42);
    await w.get('select[data-action="seed-mode"]').setValue('randomize');
    expect(w.emitted('update:seedMode')).toEqual([['randomize']]);
  });

  it('marks a widget whose value has a problem', () => {
    const w = mount(ParamWidget, { props: { spec: steps, modelValue: 300, problem: 'steps must be at most 200' } });
    expect(w.classes()).toContain('bad');
    expect(w.attributes('title')).toBe('steps must be at most 200');
  });
});
