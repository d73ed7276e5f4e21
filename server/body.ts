// Owns checking request bodies and queries against the protocol's JSON Schemas.

import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import { BadRequestError } from './errors.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<TSchema, ValidateFunction>();

/**
 * Returns the body typed by its schema.
 * @throws BadRequestError `invalid_body` listing every mismatch with its JSON pointer
 */
export function checkBody<T extends TSchema>(schema: T, body: unknown, what = 'The request body'): Static<T> {
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
  if (body === undefined) throw new BadRequestError('invalid_body', `${what} is missing: send JSON with Content-Type: application/json`);
  if (!validate(body)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath || '/';
      if (e.keyword === 'additionalProperties') return `${where}: unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
      return `${where}: ${e.message ?? 'is invalid'}`;
    });
    throw new BadRequestError('invalid_body', `${what} is invalid: ${problems.join('; ')}`);
  }
  return body as Static<T>;
}

/**
 * Reads a non-negative integer query parameter.
 * @throws BadRequestError when it is present but not an integer in [0, max]
 */
export function intQuery(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > max) throw new BadRequestError('invalid_query', `${name} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
