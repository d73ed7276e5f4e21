// Owns POST /prompt and POST /validate: a workflow checked (validity, then cost against the admission limits) and queued, or only checked.

import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { admit, WorkflowValidationError } from '../../engine/index.js';
import { PromptRequestSchema, ValidateRequestSchema, type PromptResponse, type ValidateResponse } from '../../protocol/index.js';
import { checkBody } from '../body.js';
import { BadRequestError, ConflictError } from '../errors.js';
import { seededWorkflow, splitParam } from '../redis/queue.js';
import { route, type RouteContext } from './context.js';

/**
 * Reads the `Idempotency-Key` header: 1–200 visible ASCII characters.
 * @throws BadRequestError `invalid_header` for anything else
 */
export function idempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(value)) {
    throw new BadRequestError('invalid_header', 'Idempotency-Key must be 1–200 visible ASCII characters (a UUID is a good choice), sent once');
  }
  return value;
}

export function promptRoutes(ctx: RouteContext): Router {
  const { validator, queue } = ctx;
  // Everything that can be known before running is checked before queueing: the workflow, then its cost.
  const check = async (workflow: unknown) => {
    const validated = await validator.validate(workflow);
    await admit(validated, ctx.limits(), { services: validator.services });
    return validated;
  };
  const router = Router();

  router.post(
    '/prompt',
    route(async (req, res) => {
      const body = checkBody(PromptRequestSchema, req.body);
      // Validated now so the client hears every problem at once; the worker validates again when it
      // runs it, since a restart may bring other node packs.
      const validated = await check(body.workflow);
      if (body.seeds) {
        // Each seed's workflow must be valid too (the value in the param's range), before any is queued.
        const { nodeId, name } = splitParam(body.seeds.param, validated.workflow);
        for (const seed of new Set(body.seeds.values)) await check(seededWorkflow(validated.workflow, nodeId, name, seed));
      }
      const key = idempotencyKey(req.headers['idempotency-key']);
      // A retry of a request that was queued (the answer lost, or a 503 after the prompt was handed
      // over) gets the same prompt, never a second run.
      const replay = () => {
        const existing = key === undefined ? undefined : ctx.store.byKey(key);
        if (!existing) return false;
        if (existing.workflow !== JSON.stringify(validated.workflow)) {
          throw new ConflictError(
            'idempotency_conflict',
            `Idempotency-Key ${JSON.stringify(key)} was used for another workflow (prompt ${existing.promptId}); use a new key for a new prompt`,
          );
        }
        const out: PromptResponse = { promptId: existing.promptId, number: existing.number };
        res.setHeader('Idempotent-Replayed', 'true').json(out);
        return true;
      };
      if (replay()) return;
      let out: PromptResponse;
      try {
        out = await queue.enqueue(randomUUID(), validated.workflow, body.clientId ?? null, body.seeds, key);
      } catch (error) {
        // Two requests with one key at once: the other one's insert won.
        if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' && replay()) return;
        throw error;
      }
      res.json(out);
    }),
  );

  // A dry run of POST /prompt's checks: the answer is 200 either way, since the request was fine.
  router.post(
    '/validate',
    route(async (req, res) => {
      const body = checkBody(ValidateRequestSchema, req.body);
      let out: ValidateResponse;
      try {
        const validated = await check(body.workflow);
        out = { valid: true, workflow: validated.workflow, ...(validated.warnings.length > 0 ? { warnings: validated.warnings } : {}) };
      } catch (error) {
        if (!(error instanceof WorkflowValidationError)) throw error;
        out = { valid: false, issues: error.issues };
      }
      res.json(out);
    }),
  );

  return router;
}
