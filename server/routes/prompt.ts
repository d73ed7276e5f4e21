// Owns POST /prompt and POST /validate: a workflow checked (validity, then cost against the admission limits) and queued, or only checked.

import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { admit, WorkflowValidationError } from '../../engine/index.js';
import { PromptRequestSchema, ValidateRequestSchema, type PromptResponse, type ValidateResponse } from '../../protocol/index.js';
import { checkBody } from '../body.js';
import { seededWorkflow, splitParam } from '../redis/queue.js';
import { route, type RouteContext } from './context.js';

export function promptRoutes(ctx: RouteContext): Router {
  const { validator, queue } = ctx;
  // Everything that can be known before running is checked before queueing: the workflow, then its cost.
  const check = async (workflow: unknown) => {
    const validated = await validator.validate(workflow);
    await admit(validated, ctx.limits());
    return validated;
  };
  const router = Router();

  router.post('/prompt', route(async (req, res) => {
    const body = checkBody(PromptRequestSchema, req.body);
    // Validated now so the client hears every problem at once; the worker validates again when it
    // runs it, since a restart may bring other node packs.
    const validated = await check(body.workflow);
    if (body.seeds) {
      // Each seed's workflow must be valid too (the value in the param's range), before any is queued.
      const { nodeId, name } = splitParam(body.seeds.param, validated.workflow);
      for (const seed of new Set(body.seeds.values)) await check(seededWorkflow(validated.workflow, nodeId, name, seed));
    }
    const out: PromptResponse = await queue.enqueue(randomUUID(), validated.workflow, body.clientId ?? null, body.seeds);
    res.json(out);
  }));

  // A dry run of POST /prompt's checks: the answer is 200 either way, since the request was fine.
  router.post('/validate', route(async (req, res) => {
    const body = checkBody(ValidateRequestSchema, req.body);
    let out: ValidateResponse;
    try {
      out = { valid: true, workflow: (await check(body.workflow)).workflow };
    } catch (error) {
      if (!(error instanceof WorkflowValidationError)) throw error;
      out = { valid: false, issues: error.issues };
    }
    res.json(out);
  }));

  return router;
}
