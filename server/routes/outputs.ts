// Owns GET /outputs/<path>: the files prompts wrote.

import { Router } from 'express';
import type { RouteContext } from './context.js';
import { serveInside } from './files.js';

export function outputRoutes({ dirs }: RouteContext): Router {
  const router = Router();
  router.get('/outputs/*splat', serveInside(dirs.output));
  return router;
}
