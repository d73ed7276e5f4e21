// Owns GET /nodes and GET /models: what prompts may use.

import { Router } from 'express';
import type { ModelsResponse } from '../../protocol/index.js';
import { listModels } from '../../models/package.js';
import { route, type RouteContext } from './context.js';

export function modelRoutes({ registry }: RouteContext): Router {
  const router = Router();
  router.get(
    '/nodes',
    route((_req, res) => res.json(registry.catalog())),
  );
  router.get(
    '/models',
    route(async (_req, res) => {
      const out: ModelsResponse = { models: await listModels() };
      res.json(out);
    }),
  );
  return router;
}
