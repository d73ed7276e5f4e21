// Owns GET /history and GET /history/:promptId.

import { Router } from 'express';
import type { HistoryList } from '../../protocol/index.js';
import { intQuery } from '../body.js';
import { NotFoundError } from '../errors.js';
import { route, type RouteContext } from './context.js';

export function historyRoutes({ queue }: RouteContext): Router {
  const router = Router();

  router.get(
    '/history',
    route((req, res) => {
      const limit = intQuery(req.query.limit, 'limit', 50, 1000);
      const offset = intQuery(req.query.offset, 'offset', 0, 1e9);
      const out: HistoryList = { ...queue.history(limit, offset), limit, offset };
      res.json(out);
    }),
  );

  router.get(
    '/history/:promptId',
    route((req, res) => {
      const entry = queue.get(String(req.params.promptId));
      if (!entry) throw new NotFoundError(`No prompt ${String(req.params.promptId)}`);
      res.json(entry);
    }),
  );

  return router;
}
