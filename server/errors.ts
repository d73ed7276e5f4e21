// The server's error classes, and the one place that maps every error class to an HTTP status and JSON body.

import type { ErrorRequestHandler } from 'express';
import { AdmissionError, describeError, EngineError, type Outcome } from '../engine/index.js';
import type { ErrorBody } from '../protocol/index.js';

/** A request the server cannot read: malformed JSON, a body that breaks its schema, a bad query. */
export class BadRequestError extends EngineError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'BadRequestError';
  }
}

/** A missing or wrong access token. */
export class UnauthorizedError extends EngineError {
  constructor(message = 'This server needs an access token: send "Authorization: Bearer <token>" or ?token=<token>') {
    super('unauthorized', message);
    this.name = 'UnauthorizedError';
  }
}

/** A request from another site (Origin) or to a host name this server does not answer to. */
export class ForbiddenError extends EngineError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ForbiddenError';
  }
}

/** A prompt, output, upload or saved workflow that does not exist. */
export class NotFoundError extends EngineError {
  constructor(message: string) {
    super('not_found', message);
    this.name = 'NotFoundError';
  }
}

/** A request that conflicts with the current state (deleting a prompt that is already running). */
export class ConflictError extends EngineError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ConflictError';
  }
}

/** A body or upload over its size limit. */
export class PayloadTooLargeError extends EngineError {
  constructor(message: string) {
    super('payload_too_large', message);
    this.name = 'PayloadTooLargeError';
  }
}

/** An upload whose content is not an accepted image or video type (whatever its name or label says). */
export class UnsupportedMediaError extends EngineError {
  constructor(message: string) {
    super('unsupported_media_type', message);
    this.name = 'UnsupportedMediaError';
  }
}

/** A path that would leave its folder (`..`, an absolute path, a symlink pointing out). */
export class PathEscapeError extends EngineError {
  constructor(message: string) {
    super('bad_path', message);
    this.name = 'PathEscapeError';
  }
}

/** A write the disk had no room for (ENOSPC, SQLITE_FULL); nothing half-written was kept. */
export class StorageFullError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('insufficient_storage', message, options);
    this.name = 'StorageFullError';
  }
}

/** Whether an error says the disk (or quota) is full. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

/** The queue engine (Redis) cannot take a prompt now; the client may retry (with its Idempotency-Key) after Retry-After. */
export class QueueUnavailableError extends EngineError {
  /** Seconds the client should wait before retrying. */
  readonly retryAfter: number;

  constructor(message: string, retryAfter = 5) {
    super('queue_unavailable', message);
    this.name = 'QueueUnavailableError';
    this.retryAfter = retryAfter;
  }
}

// The server's own classes say more than the engine's outcome; order matters: subclasses first.
const STATUS: Array<[abstract new (...args: never[]) => Error, number]> = [
  // Valid, but more than this server will take on (admission limits).
  [AdmissionError, 422],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [UnsupportedMediaError, 415],
  [QueueUnavailableError, 503],
  [StorageFullError, 507],
];

/** The status of each outcome of the engine's one error mapping ({@link describeError}). */
const OUTCOME_STATUS: Record<Outcome, number> = { invalid: 400, failed: 500, interrupted: 400, internal: 500 };

/** The HTTP status and JSON body an error becomes. Unknown errors are 500 without their details. */
export function errorResponse(error: unknown): { status: number; body: ErrorBody } {
  // body-parser's errors carry a `type` and a status; they are the client's fault, so say what was wrong.
  const parser = error as { type?: string; status?: number; message?: string };
  if (parser?.type === 'entity.parse.failed') {
    return { status: 400, body: { error: { code: 'malformed_json', message: `The body is not valid JSON: ${parser.message}` } } };
  }
  if (parser?.type === 'entity.too.large') {
    return { status: 413, body: { error: { code: 'payload_too_large', message: `The body is larger than this server accepts (${parser.message})` } } };
  }
  if (parser?.type === 'encoding.unsupported' || parser?.type === 'charset.unsupported') {
    return { status: 415, body: { error: { code: 'unsupported_media_type', message: String(parser.message) } } };
  }
  if (!(error instanceof EngineError) && isDiskFull(error)) {
    return { status: 507, body: { error: { code: 'insufficient_storage', message: "The server's disk is full: nothing was kept. Try again once space is freed." } } };
  }
  // A decoder meeting a malformed %XX (express decoding a route param, a cookie) is the client's fault too.
  if (error instanceof URIError || (error as { cause?: unknown })?.cause instanceof URIError) {
    return { status: 400, body: { error: { code: 'bad_url', message: 'The request holds a malformed percent-encoding (each %XX must form UTF-8)' } } };
  }
  // `send` (behind res.sendFile) reports an unsatisfiable range or a vanished file as http-errors.
  const http = error as { status?: unknown; expose?: unknown };
  if (!(error instanceof EngineError) && http?.expose === true && typeof http.status === 'number' && http.status >= 400 && http.status < 500) {
    const code = http.status === 416 ? 'range_not_satisfiable' : http.status === 404 ? 'not_found' : 'bad_request';
    return { status: http.status, body: { error: { code, message: String((error as Error).message) } } };
  }
  const report = describeError(error);
  // A bug's message may hold server internals: it goes to the log, not to the client.
  if (report.outcome === 'internal') return { status: 500, body: { error: { code: 'internal', message: 'Internal server error' } } };
  const status = STATUS.find(([cls]) => error instanceof cls)?.[1] ?? OUTCOME_STATUS[report.outcome];
  const body: ErrorBody = { error: { code: report.code, message: report.message } };
  if (report.issues) body.error.issues = report.issues;
  return { status, body };
}

/**
 * The one express error handler: every route throws (or passes to `next`) an error class, and
 * this turns it into a status and `{ error: { code, message, issues? } }`.
 */
export function errorHandler(log: (message: string) => void): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const { status, body } = errorResponse(error);
    if (error instanceof QueueUnavailableError) res.setHeader('Retry-After', String(error.retryAfter));
    else if (status >= 500 && status !== 507) log(`${(error as Error)?.stack ?? String(error)}`);
    res.status(status).json(body);
  };
}
