// Owns POST /uploads, GET /uploads (the list) and GET /uploads/<name>.

import { Router } from 'express';
import { listUploads, receiveUpload } from '../uploads.js';
import { route, type RouteContext } from './context.js';
import { serveInside } from './files.js';

export function uploadRoutes({ dirs, maxUploadBytes }: RouteContext): Router {
  const router = Router();
  router.get(
    '/uploads',
    route(async (_req, res) => res.json(await listUploads(dirs.uploads))),
  );
  router.get('/uploads/*splat', serveInside(dirs.uploads));
  router.post(
    '/uploads',
    route(async (req, res) => {
      const out = await receiveUpload(req, dirs.uploads, maxUploadBytes);
      res.status(out.created ? 201 : 200).json(out);
    }),
  );
  return router;
}
