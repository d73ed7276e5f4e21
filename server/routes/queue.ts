// Owns GET /queue, DELETE /queue/:promptId and POST /interrupt.

import { Router } from 'express';
import { InterruptRequestSchema, type DeleteQueuedResponse } from '../../protocol/index.js';
import { checkBody } from '../body.js';
import { route, type RouteContext } from './context.js';

export function queueRoutes({ queue }: RouteContext): Router {
  const router = Router();

  router.get(
    '/queue',
    route((_req, res) => res.json(queue.queue())),
  );

  router.delete(
    '/queue/:promptId',
    route(async (req, res) => {
      const promptId = String(req.params.promptId);
      await queue.remove(promptId);
      const out: DeleteQueuedResponse = { deleted: true, promptId };
      res.json(out);
    }),
  );

  router.post(
    '/interrupt',
    route(async (req, res) => {
      const body = checkBody(InterruptRequestSchema, req.body ?? {});
      res.json(await queue.interrupt(body.promptId));
    }),
  );

  return router;
}
