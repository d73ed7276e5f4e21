// Owns the saved-workflow library routes and POST /workflows/extract.

import { Router } from 'express';
import { ExtractRequestSchema } from '../../protocol/index.js';
import { checkBody } from '../body.js';
import { BadRequestError } from '../errors.js';
import { resolveInside } from '../paths.js';
import { extractEmbedded } from '../workflows.js';
import { route, type RouteContext } from './context.js';

export function workflowRoutes({ library, dirs }: RouteContext): Router {
  const router = Router();

  router.get(
    '/workflows',
    route(async (_req, res) => res.json(await library.list())),
  );
  router.post(
    '/workflows/extract',
    route(async (req, res) => {
      const body = checkBody(ExtractRequestSchema, req.body);
      const [root, rel] = body.output !== undefined ? [dirs.output, body.output] : [dirs.uploads, body.upload!];
      const file = await resolveInside(root, rel.split('/'));
      res.json(await extractEmbedded(file));
    }),
  );
  router.get(
    '/workflows/:name',
    route(async (req, res) => res.json(await library.get(String(req.params.name)))),
  );
  router.put(
    '/workflows/:name',
    route(async (req, res) => {
      if (req.body === undefined) throw new BadRequestError('invalid_body', 'Send the workflow as JSON with Content-Type: application/json');
      const { created } = await library.put(String(req.params.name), req.body);
      res.status(created ? 201 : 200).json({ name: String(req.params.name), created });
    }),
  );
  router.delete(
    '/workflows/:name',
    route(async (req, res) => {
      await library.delete(String(req.params.name));
      res.json({ name: String(req.params.name), deleted: true });
    }),
  );

  return router;
}
