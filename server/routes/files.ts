// Owns serving a file from inside one folder: confined path, ranges, no caching.

import { stat } from 'node:fs/promises';
import { NotFoundError } from '../errors.js';
import { resolveInside } from '../paths.js';
import { route, type Handler } from './context.js';

/**
 * A handler serving `*splat` from inside `root`. Range requests (206, Content-Range) come from
 * `send`, which sendFile uses; the path is confined first, so `send` only ever sees a real file
 * inside the folder.
 */
export function serveInside(root: string): Handler {
  return route(async (req, res, next) => {
    const segments = req.params.splat as unknown as string[];
    const file = await resolveInside(root, segments);
    // A file still being written (or left by a write that never finished) is not an output yet;
    // `.skyloom-*` files are the server's and workers' bookkeeping.
    if (segments.some((s) => s.endsWith('.partial') || s === '.partial' || s.startsWith('.skyloom-')) || (await stat(file)).size === 0) {
      throw new NotFoundError(`No such file: ${segments.join('/')}`);
    }
    res.sendFile(file, { dotfiles: 'allow', acceptRanges: true, headers: { 'Cache-Control': 'no-cache' } }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });
}
