// Owns GET /history (paged, filtered), GET /history/:promptId and DELETE /history/:promptId.

import { rm, stat } from 'node:fs/promises';
import { Router } from 'express';
import type { DeleteHistoryResponse, HistoryEntry, HistoryList, OutputFileRef, PromptStatus } from '../../protocol/index.js';
import { intQuery } from '../body.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { resolveInside } from '../paths.js';
import type { HistoryQuery } from '../store.js';
import { route, type RouteContext } from './context.js';

const FINISHED: readonly PromptStatus[] = ['success', 'error', 'interrupted', 'cancelled'];
const KINDS: ReadonlyArray<OutputFileRef['kind']> = ['video', 'image', 'text', 'file'];
const MAX_TEXT = 200;

/** A query parameter given at most once, as a string. */
function oneQuery(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError('invalid_query', `${name} may be given once, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Reads the history list's query (its wire form is the protocol's HistoryQuerySchema): `limit`, `offset`, `before` (a prompt number), `status` (a
 * comma-separated list of finished states), `kind` (an output file kind) and `q` (text).
 * @throws BadRequestError `invalid_query` naming the parameter and what it takes
 */
export function historyQuery(query: Record<string, unknown>): HistoryQuery {
  const out: HistoryQuery = { limit: intQuery(query.limit, 'limit', 50, 1000), offset: intQuery(query.offset, 'offset', 0, 1e9) };
  if (query.before !== undefined) out.before = intQuery(query.before, 'before', 0, 1e9);
  const status = oneQuery(query.status, 'status');
  if (status !== undefined) {
    const list = status.split(',').map((s) => s.trim());
    const bad = list.filter((s) => !FINISHED.includes(s as PromptStatus));
    if (bad.length > 0 || list.length === 0) {
      throw new BadRequestError(
        'invalid_query',
        `status must be a comma-separated list of ${FINISHED.join(', ')} (the history holds finished prompts), got ${JSON.stringify(status)}`,
      );
    }
    out.status = [...new Set(list as PromptStatus[])];
  }
  const kind = oneQuery(query.kind, 'kind');
  if (kind !== undefined) {
    if (!KINDS.includes(kind as OutputFileRef['kind'])) throw new BadRequestError('invalid_query', `kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    out.kind = kind as OutputFileRef['kind'];
  }
  const text = oneQuery(query.q, 'q');
  if (text !== undefined && text.trim() !== '') {
    if (text.length > MAX_TEXT) throw new BadRequestError('invalid_query', `q may be at most ${MAX_TEXT} characters, got ${text.length}`);
    out.text = text.trim();
  }
  return out;
}

export function historyRoutes({ queue, store, dirs, hub }: RouteContext): Router {
  const router = Router();

  /** The file's place in the output folder, when it is there (the record may outlive it). */
  const located = async (file: OutputFileRef): Promise<string | undefined> => {
    if (file.url === undefined) return undefined;
    try {
      return await resolveInside(dirs.output, file.filename.split('/'));
    } catch {
      return undefined;
    }
  };

  // Sizes are read now, not stored: a file deleted since the run shows as gone.
  const withSizes = async (entry: HistoryEntry): Promise<HistoryEntry> => {
    for (const ui of Object.values(entry.outputs)) {
      for (const file of ui.files ?? []) {
        const path = await located(file);
        if (path === undefined) continue;
        try {
          file.size = (await stat(path)).size;
        } catch {
          // gone between the two calls
        }
      }
    }
    return entry;
  };

  router.get(
    '/history',
    route(async (req, res) => {
      const query = historyQuery(req.query);
      const { items, total } = queue.history(query);
      const out: HistoryList = { items: await Promise.all(items.map(withSizes)), total, limit: query.limit, offset: query.offset };
      res.json(out);
    }),
  );

  router.get(
    '/history/:promptId',
    route(async (req, res) => {
      const entry = queue.get(String(req.params.promptId));
      if (!entry) throw new NotFoundError(`No prompt ${String(req.params.promptId)}`);
      res.json(await withSizes(entry));
    }),
  );

  router.delete(
    '/history/:promptId',
    route(async (req, res) => {
      const promptId = String(req.params.promptId);
      const mode = oneQuery(req.query.files, 'files') ?? 'keep';
      if (mode !== 'keep' && mode !== 'delete') throw new BadRequestError('invalid_query', `files must be keep or delete, got ${JSON.stringify(mode)}`);
      const files = store.removeFinished(promptId);
      if (!files) {
        const status = store.status(promptId);
        if (status === undefined) throw new NotFoundError(`No prompt ${promptId}`);
        throw new ConflictError(
          'prompt_unfinished',
          status === 'running'
            ? `Prompt ${promptId} is running; interrupt it with POST /api/interrupt, then delete it`
            : `Prompt ${promptId} is queued; take it off the queue with DELETE /api/queue/${promptId}, then delete it`,
        );
      }
      const out: DeleteHistoryResponse = { deleted: true, promptId, files: { removed: [], kept: [], missing: [] } };
      for (const file of files) {
        const path = await located(file);
        if (path === undefined) out.files[file.url === undefined ? 'kept' : 'missing'].push(file.filename);
        else if (mode === 'keep' || store.fileUser(file.filename) !== undefined) out.files.kept.push(file.filename);
        else {
          await rm(path, { force: true });
          out.files.removed.push(file.filename);
        }
      }
      // Every tab shows the history (queue panel, gallery), not only the one that asked; in the Redis
      // engine too the history lives in this server's store, so its own hub reaches every client.
      hub.broadcast({ type: 'history_deleted', data: { promptId } });
      res.json(out);
    }),
  );

  return router;
}
