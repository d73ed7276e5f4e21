// Owns the value rules of param widgets: parsing and stepping numbers, seeds, and which values are off-range or off-step.

import type { ParamSpec } from '../../../engine/types.js';

export const MAX_SEED = Number.MAX_SAFE_INTEGER;

type NumberSpec = Extract<ParamSpec, { kind: 'int' | 'float' | 'seed' }>;

/** The step a number widget moves by: the spec's step, else 1 for integers and 0.01 for floats. */
export function stepOf(spec: NumberSpec): number {
  if ('step' in spec && spec.step !== undefined && spec.step > 0) return spec.step;
  return spec.kind === 'float' ? 0.01 : 1;
}

export function boundsOf(spec: NumberSpec): { min: number; max: number } {
  if (spec.kind === 'seed') return { min: 0, max: MAX_SEED };
  return { min: spec.min ?? -Infinity, max: spec.max ?? Infinity };
}

function decimals(step: number): number {
  const text = String(step);
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/**
 * Reads what the user typed as a number, exactly as typed: never clamped, rounded or snapped, so
 * an out-of-range or off-step value is kept and shown as an error instead of changed without a
 * word. Returns undefined for text that is not a number, so the widget can keep the old value.
 */
export function coerceNumber(spec: NumberSpec, input: string | number): number | undefined {
  if (typeof input === 'string' && input.trim() === '') return undefined;
  const n = typeof input === 'number' ? input : Number(String(input).trim());
  if (!Number.isFinite(n)) return undefined;
  return spec.kind === 'float' ? Number(n.toFixed(Math.max(decimals(stepOf(spec)), 6))) : n;
}

/** Clamped to the range, rounded for integers: where the arrows and scrubbing move to. */
function clampNumber(spec: NumberSpec, n: number): number {
  const { min, max } = boundsOf(spec);
  let v = Math.min(max, Math.max(min, n));
  if (spec.kind !== 'float') v = Math.round(v);
  else v = Number(v.toFixed(Math.max(decimals(stepOf(spec)), 6)));
  return Math.min(max, Math.max(min, v));
}

/** One step up (+1) or down (-1) from `value`, clamped. */
export function stepNumber(spec: NumberSpec, value: number, direction: 1 | -1, multiplier = 1): number {
  const step = stepOf(spec) * multiplier;
  const next = Number((value + direction * step).toFixed(Math.max(decimals(step), 0) + 2));
  return Number.isFinite(next) ? clampNumber(spec, next) : value;
}

/** A fresh random seed in [0, 2^53 - 1]. */
export function randomSeed(random: () => number = Math.random): number {
  // Two draws: Math.random has 52 bits of mantissa at best, and seeds span 53.
  const hi = Math.floor(random() * 2 ** 21);
  const lo = Math.floor(random() * 2 ** 32);
  return hi * 2 ** 32 + lo;
}

/** Describes why a value is not acceptable for its param, or undefined when it is fine. */
export function valueProblem(spec: ParamSpec, value: unknown): string | undefined {
  switch (spec.kind) {
    case 'int':
    case 'float':
    case 'seed': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
      if (spec.kind !== 'float' && !Number.isInteger(value)) return 'must be a whole number';
      const { min, max } = boundsOf(spec);
      if (value < min) return `must be at least ${min}`;
      if (value > max) return `must be at most ${max}`;
      // The engine holds ints to their step (sizes on the model's grid); see engine/validate.ts.
      if (spec.kind === 'int' && spec.step !== undefined && spec.step > 1 && (value - (spec.min ?? 0)) % spec.step !== 0) {
        const below = value - ((((value - (spec.min ?? 0)) % spec.step) + spec.step) % spec.step);
        return `must be on steps of ${spec.step}${spec.min ? ` from ${spec.min}` : ''} (${below} or ${below + spec.step})`;
      }
      return undefined;
    }
    case 'enum':
      return spec.choices.includes(String(value)) ? undefined : `must be one of ${spec.choices.join(', ')}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'string':
      return typeof value === 'string' ? undefined : 'must be text';
  }
}

/** A short label for a value shown in a compact widget. */
export function formatNumber(spec: NumberSpec, value: number): string {
  if (spec.kind !== 'float') return String(value);
  const d = Math.min(6, Math.max(decimals(stepOf(spec)), 1));
  return Number(value.toFixed(d)).toString();
}
