// Owns who may talk to the server: the access token, same-origin only, and loopback host names on a loopback bind.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { EngineError } from '../engine/index.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';

/** The cookie set after a valid `?token=`, so the editor's own requests (scripts, images) carry it. */
export const TOKEN_COOKIE = 'skyloom_token';

/** Whether an address (or host name) only reaches this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
}

/**
 * Refuses a configuration that would expose the server without a token.
 * @throws EngineError `token_required` when binding a non-loopback address without a token
 */
export function checkBind(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new EngineError(
      'token_required',
      `Refusing to listen on ${host} without an access token: anyone who can reach it could run workflows and read outputs. ` +
        'Pass --token-file <file> (or SKYLOOM_TOKEN / SKYLOOM_TOKEN_FILE, or --token <secret>), or bind 127.0.0.1.',
    );
  }
}

/** The shortest access token accepted: a short one falls to guessing over the network. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Refuses a token too short to stand guessing.
 * @throws EngineError `weak_token` saying how long it must be and how to make one
 */
export function checkToken(token: string | undefined): void {
  if (token === undefined) return;
  if (token.length < MIN_TOKEN_LENGTH || token.trim() !== token) {
    throw new EngineError(
      'weak_token',
      `The access token must be at least ${MIN_TOKEN_LENGTH} characters without surrounding spaces (got ${token.length}); ` + 'make one with: openssl rand -hex 24',
    );
  }
}

/**
 * The token from, in order: `--token` (visible in the process list), `SKYLOOM_TOKEN`, or the file
 * named by `--token-file` / `SKYLOOM_TOKEN_FILE` (its first line).
 * @throws EngineError `token_file` when the file cannot be read or is empty
 */
export function resolveToken(flag: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag !== undefined) return flag;
  if (env.SKYLOOM_TOKEN) return env.SKYLOOM_TOKEN;
  const path = file ?? (env.SKYLOOM_TOKEN_FILE || undefined);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new EngineError('token_file', `Cannot read the token file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const token = text.split(/\r?\n/)[0]!;
  if (token === '') throw new EngineError('token_file', `The token file ${path} is empty; put the token on its first line`);
  return token;
}

export interface AccessPolicy {
  /** The access token; when set, every request must carry it. */
  token?: string;
  /** The address the server is bound to; on a loopback bind, only loopback host names are answered. */
  host: string;
  /** Other origins allowed to use the server (`http://localhost:5173` for the editor's dev server). */
  origins?: readonly string[];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The token a request carries: `Authorization: Bearer`, `X-Skyloom-Token`, `?token=` or the cookie. */
export function presentedToken(headers: IncomingHttpHeaders, query: URLSearchParams): { token?: string; fromQuery: boolean } {
  const auth = headers.authorization;
  if (auth?.toLowerCase().startsWith('bearer ')) return { token: auth.slice(7).trim(), fromQuery: false };
  const header = headers['x-skyloom-token'];
  if (typeof header === 'string') return { token: header, fromQuery: false };
  const q = query.get('token');
  if (q !== null) return { token: q, fromQuery: true };
  for (const part of (headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== TOKEN_COOKIE) continue;
    try {
      return { token: decodeURIComponent(v.join('=')), fromQuery: false };
    } catch {
      return { token: '', fromQuery: false };
    }
  }
  return { fromQuery: false };
}

/**
 * Checks one HTTP request or WebSocket upgrade against the policy.
 * @returns whether the token came in the query (the caller then sets the cookie)
 * @throws ForbiddenError for a foreign Origin, a cross-site fetch or a non-loopback Host on a loopback bind
 * @throws UnauthorizedError for a missing or wrong token
 */
export function checkAccess(policy: AccessPolicy, headers: IncomingHttpHeaders, url: string): { tokenFromQuery: boolean } {
  const host = headers.host ?? '';
  // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example.
  if (isLoopback(policy.host) && !isLoopback(host.replace(/:\d+$/, ''))) {
    throw new ForbiddenError('forbidden_host', `This server answers only to localhost names, not ${JSON.stringify(host)}`);
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      originHost = origin === 'null' ? undefined : new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    const listed = policy.origins?.some((o) => o.toLowerCase() === origin.toLowerCase()) ?? false;
    if (!listed && (!originHost || originHost.toLowerCase() !== host.toLowerCase())) {
      throw new ForbiddenError('forbidden_origin', `Requests from ${origin} are refused: only pages served by this server (${host}) may use it`);
    }
  }
  // Without an Origin header (a plain <img> or <video> on another site) browsers still say where the request came from.
  if (headers['sec-fetch-site'] === 'cross-site') {
    throw new ForbiddenError('forbidden_origin', 'Cross-site requests are refused');
  }
  if (!policy.token) return { tokenFromQuery: false };
  const query = new URL(url, 'http://x').searchParams;
  const { token, fromQuery } = presentedToken(headers, query);
  if (token === undefined) throw new UnauthorizedError();
  if (!timingSafeEqual(digest(token), digest(policy.token))) throw new UnauthorizedError('The access token is wrong');
  return { tokenFromQuery: fromQuery };
}
