// defineNode(): checks a node description once, at definition time, so a bad pack fails loudly.

import { EngineError } from './errors.js';
import type { InputSpec, NodeDefinition, OutputSpec, ParamSpec } from './types.js';

const TYPE_PATTERN = /^[a-z][a-z0-9-]*(\/[a-z][a-z0-9-]*)?$/;
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Declares a node. Returns the definition unchanged after checking it is well formed. The types
 * of `run`'s inputs and params are inferred from the declared socket types and param kinds.
 * @throws EngineError (`invalid_node_definition`) naming the node type and the field at fault
 */
export function defineNode<
  const I extends Record<string, InputSpec> = Record<never, InputSpec>,
  const P extends Record<string, ParamSpec> = Record<never, ParamSpec>,
  const O extends Record<string, OutputSpec> = Record<never, OutputSpec>,
>(definition: NodeDefinition<I, P, O>): NodeDefinition<I, P, O> {
  assertWellFormed(definition as unknown as NodeDefinition);
  return definition;
}

/**
 * Checks an erased definition, e.g. one a node pack registers without {@link defineNode}.
 * @throws EngineError (`invalid_node_definition`) naming the node type and the field at fault
 */
export function assertWellFormed(definition: NodeDefinition): void {
  const problems = checkDefinition(definition);
  if (problems.length > 0) {
    const name = typeof definition?.type === 'string' ? definition.type : '<unnamed>';
    throw new EngineError('invalid_node_definition', `Node definition "${name}" is invalid: ${problems.join('; ')}`);
  }
}

function checkDefinition(d: NodeDefinition): string[] {
  const out: string[] = [];
  if (d === null || typeof d !== 'object') return ['it is not an object'];
  if (typeof d.type !== 'string' || !TYPE_PATTERN.test(d.type)) {
    out.push(`type must be kebab-case (optionally "pack/name"), got ${JSON.stringify(d.type)}`);
  }
  if (!Number.isInteger(d.version) || d.version < 1) out.push('version must be an integer >= 1');
  if (typeof d.category !== 'string' || d.category === '') out.push('category is required');
  if (typeof d.description !== 'string') out.push('description is required');
  if (typeof d.run !== 'function') out.push('run must be a function');
  const seen = new Set<string>();
  for (const [group, record] of [
    ['inputs', d.inputs],
    ['params', d.params],
  ] as const) {
    for (const name of Object.keys(record ?? {})) {
      if (!NAME_PATTERN.test(name)) out.push(`${group}.${name}: names must be identifiers`);
      if (seen.has(name)) out.push(`${group}.${name}: an input and a param share this name`);
      seen.add(name);
    }
  }
  for (const name of Object.keys(d.outputs ?? {})) {
    if (!NAME_PATTERN.test(name)) out.push(`outputs.${name}: names must be identifiers`);
  }
  for (const [name, spec] of Object.entries(d.params ?? {})) out.push(...checkParam(name, spec));
  return out;
}

function checkParam(name: string, p: ParamSpec): string[] {
  const at = `params.${name}`;
  switch (p.kind) {
    case 'int':
    case 'float': {
      const out: string[] = [];
      if (typeof p.default !== 'number' || Number.isNaN(p.default)) out.push(`${at}: default must be a number`);
      if (p.kind === 'int' && !Number.isInteger(p.default)) out.push(`${at}: default must be an integer`);
      if (p.min !== undefined && p.max !== undefined && p.min > p.max) out.push(`${at}: min is above max`);
      if (p.min !== undefined && p.default < p.min) out.push(`${at}: default is below min`);
      if (p.max !== undefined && p.default > p.max) out.push(`${at}: default is above max`);
      return out;
    }
    case 'seed':
      return Number.isSafeInteger(p.default) && p.default >= 0 ? [] : [`${at}: default must be a non-negative safe integer`];
    case 'string':
      return typeof p.default === 'string' ? [] : [`${at}: default must be a string`];
    case 'boolean':
      return typeof p.default === 'boolean' ? [] : [`${at}: default must be a boolean`];
    case 'enum':
      if (!Array.isArray(p.choices) || p.choices.length === 0) return [`${at}: choices must be a non-empty list`];
      return p.choices.includes(p.default) ? [] : [`${at}: default must be one of the choices`];
    default:
      return [`${at}: unknown kind ${JSON.stringify((p as { kind: unknown }).kind)} (int, float, string, boolean, enum, seed)`];
  }
}
