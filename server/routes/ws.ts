// Owns the WebSocket endpoint `/ws`: access checks on the upgrade, then the socket joins the hub.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { PREVIEW_FORMATS, type PreviewFormat } from '../../protocol/index.js';
import { BadRequestError, errorResponse, NotFoundError } from '../errors.js';
import { checkAccess } from '../security.js';
import type { RouteContext } from './context.js';

const REASON: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };

/**
 * Serves `/ws` on an HTTP server; returns the WebSocket server (closed by the app's close()).
 */
export function attachWebSocket(server: Server, { policy, hub, queue }: RouteContext): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/ws') throw new NotFoundError(`No WebSocket endpoint at ${url.pathname}; use /ws`);
      checkAccess(policy, req.headers, req.url ?? '/');
      const format = (url.searchParams.get('preview') ?? 'webp') as PreviewFormat;
      if (!PREVIEW_FORMATS.includes(format)) throw new BadRequestError('invalid_query', `preview must be one of ${PREVIEW_FORMATS.join(', ')}`);
      const clientId = url.searchParams.get('clientId') || randomUUID();
      if (clientId.length > 128) throw new BadRequestError('invalid_query', 'clientId is at most 128 characters');
      wss.handleUpgrade(req, socket, head, (ws) => {
        hub.add(ws, clientId, format);
        // Clients only listen; a message from one is ignored rather than parsed.
        ws.on('error', () => ws.terminate());
        const { pending, running } = queue.counts();
        ws.send(JSON.stringify({ type: 'status', data: { queueRemaining: pending + running, running: queue.running(), sid: clientId } }));
      });
    } catch (error) {
      const { status, body } = errorResponse(error);
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${status} ${REASON[status] ?? 'Bad Request'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
  });
  return wss;
}
