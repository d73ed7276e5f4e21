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

/** How deep a JSON body may nest; a workflow needs about 6 levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuses a JSON text nested deeper than `max` before it is parsed: a body 100k levels deep
 * parses, but every recursive walk over it after (schema checks, hashing, copying) overflows the stack.
 * Linear in the bytes, and strings are skipped so brackets inside them do not count.
 * @throws BadRequestError `json_too_deep`
 */
export function checkJsonDepth(text: Buffer | string, max = MAX_JSON_DEPTH): void {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c)
        i += 1; // a backslash escapes the next byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) throw new BadRequestError('json_too_deep', `The JSON body nests deeper than ${max} levels (at byte ${i})`);
    } else if (c === 0x7d || c === 0x5d) {
      depth -= 1;
    }
  }
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
