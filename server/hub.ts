// Owns the WebSocket clients: JSON events to the client that queued each prompt, status to all, and rate-limited binary previews.

import type { WebSocket } from 'ws';
import type { Logger, Preview } from '../engine/index.js';
import { encodePreviewFrame, PREVIEW_JPEG_STRIP, PREVIEW_WEBP, type PreviewFormat, type PreviewMetadata, type ServerMessage } from '../protocol/index.js';
import { framesToAnimatedWebp, framesToJpegStrip } from '../media/image.js';

export interface HubOptions {
  /** At most one preview per client in this window; newer previews replace waiting ones. Default 250 ms. */
  previewIntervalMs?: number;
  /** A client with more than this many bytes not yet sent gets no new previews until it catches up. Default 1 MiB. */
  maxBufferedBytes?: number;
  log?: Logger;
}

/** What a node reported, waiting to be encoded; shared by every socket that wants it. */
interface PreviewJob {
  meta: Omit<PreviewMetadata, 'mime' | 'width' | 'height' | 'frameCount' | 'fps'>;
  preview: Preview;
  encoded: Map<Exclude<PreviewFormat, 'none'>, Promise<Uint8Array>>;
}

interface Client {
  ws: WebSocket;
  clientId: string;
  format: PreviewFormat;
  pending?: PreviewJob;
  encoding: boolean;
  timer?: NodeJS.Timeout;
  lastSentAt: number;
}

export interface HubStats {
  clients: number;
  previewsSent: number;
  /** Previews replaced by a newer one, or skipped because the client was behind. */
  previewsDropped: number;
  previewErrors: number;
}

/**
 * The WebSocket hub. Sending never blocks the caller: JSON goes straight to the socket buffers,
 * and previews are only stored in a one-slot mailbox per client, encoded later on libvips'
 * thread pool (sharp), so a sampler's `progress()` returns at once whatever the clients do.
 */
export class Hub {
  readonly #clients = new Map<string, Set<Client>>();
  readonly #interval: number;
  readonly #maxBuffered: number;
  readonly #log?: Logger;
  #sent = 0;
  #dropped = 0;
  #errors = 0;
  #statusQueued = false;

  constructor(options: HubOptions = {}) {
    this.#interval = options.previewIntervalMs ?? 250;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.#log = options.log;
  }

  /** Registers a connected socket under its client id; it is forgotten when it closes. */
  add(ws: WebSocket, clientId: string, format: PreviewFormat): void {
    const client: Client = { ws, clientId, format, encoding: false, lastSentAt: 0 };
    let set = this.#clients.get(clientId);
    if (!set) this.#clients.set(clientId, (set = new Set()));
    set.add(client);
    ws.on('close', () => {
      if (client.timer) clearTimeout(client.timer);
      set.delete(client);
      if (set.size === 0 && this.#clients.get(clientId) === set) this.#clients.delete(clientId);
    });
  }

  /** Whether any socket is connected under this id. */
  connected(clientId: string): boolean {
    return (this.#clients.get(clientId)?.size ?? 0) > 0;
  }

  /** Sends a JSON message to every socket of one client (no-op for a client that is not connected). */
  send(clientId: string | null, message: ServerMessage): void {
    if (clientId === null) return;
    const set = this.#clients.get(clientId);
    if (!set || set.size === 0) return;
    const text = JSON.stringify(message);
    for (const c of set) sendText(c.ws, text);
  }

  /** Sends a JSON message to every connected socket. */
  broadcast(message: ServerMessage): void {
    const text = JSON.stringify(message);
    for (const set of this.#clients.values()) for (const c of set) sendText(c.ws, text);
  }

  /**
   * Sends the queue size to every client, once per turn of the event loop however often it is
   * asked: a burst of 200 POSTs then costs a few broadcasts, not 200 × clients messages. `read`
   * runs when the broadcast goes out (so it sees the latest counts); `undefined` skips it.
   */
  broadcastStatus(read: () => Extract<ServerMessage, { type: 'status' }>['data'] | undefined): void {
    if (this.#statusQueued) return;
    this.#statusQueued = true;
    setImmediate(() => {
      this.#statusQueued = false;
      const data = read();
      if (data) this.broadcast({ type: 'status', data });
    });
  }

  /**
   * Offers a preview to one client. O(1) on the caller's path: the preview waits in the client's
   * mailbox (replacing an older one, which is dropped) until the rate window allows the next send.
   */
  preview(clientId: string | null, data: { promptId: string; nodeId: string; step: number; total: number; preview: Preview }): void {
    if (clientId === null) return;
    const set = this.#clients.get(clientId);
    if (!set) return;
    let job: PreviewJob | undefined;
    for (const c of set) {
      if (c.format === 'none') continue;
      job ??= { meta: { promptId: data.promptId, nodeId: data.nodeId, step: data.step, total: data.total }, preview: data.preview, encoded: new Map() };
      if (c.pending) this.#dropped += 1;
      c.pending = job;
      this.#schedule(c);
    }
  }

  stats(): HubStats {
    let clients = 0;
    for (const set of this.#clients.values()) clients += set.size;
    return { clients, previewsSent: this.#sent, previewsDropped: this.#dropped, previewErrors: this.#errors };
  }

  /** Closes every socket (server shutdown). */
  close(code = 1001, reason = 'server shutting down'): void {
    for (const set of this.#clients.values()) {
      for (const c of set) {
        if (c.timer) clearTimeout(c.timer);
        c.ws.close(code, reason);
      }
    }
  }

  #schedule(c: Client): void {
    if (c.encoding || c.timer || !c.pending) return;
    const wait = c.lastSentAt + this.#interval - performance.now();
    if (wait > 0) {
      c.timer = setTimeout(() => {
        c.timer = undefined;
        this.#schedule(c);
      }, wait);
      c.timer.unref();
      return;
    }
    // Deferred: the caller is a sampler inside progress(); even the JPEG strip's row copy happens
    // after it has returned, and by then a newer preview may have replaced this one.
    c.encoding = true;
    setImmediate(() => void this.#flush(c));
  }

  async #flush(c: Client): Promise<void> {
    const job = c.pending;
    c.pending = undefined;
    try {
      if (!job) return;
      // A slow client keeps its buffer; piling more previews on it would only grow memory.
      if (c.ws.bufferedAmount > this.#maxBuffered) {
        this.#dropped += 1;
        return;
      }
      const format = c.format === 'jpeg' ? 'jpeg' : 'webp';
      let encoded = job.encoded.get(format);
      if (!encoded) job.encoded.set(format, (encoded = encodePreview(job, format)));
      const frame = await encoded;
      if (c.ws.readyState === c.ws.OPEN) {
        c.ws.send(frame);
        this.#sent += 1;
      }
    } catch (error) {
      this.#errors += 1;
      this.#log?.warn(`preview not sent: ${(error as Error).message}`);
    } finally {
      c.lastSentAt = performance.now();
      c.encoding = false;
      this.#schedule(c);
    }
  }
}

async function encodePreview(job: PreviewJob, format: 'webp' | 'jpeg'): Promise<Uint8Array> {
  const { width, height, frameCount, data } = job.preview;
  const fps = job.preview.fps ?? 8;
  const base = { ...job.meta, frameCount, width, height, fps };
  if (format === 'webp') {
    const image = await framesToAnimatedWebp(data, { width, height, fps, quality: 70 });
    return encodePreviewFrame(PREVIEW_WEBP, { ...base, mime: 'image/webp' }, image);
  }
  const image = await framesToJpegStrip(data, { width, height, quality: 75 });
  return encodePreviewFrame(PREVIEW_JPEG_STRIP, { ...base, mime: 'image/jpeg' }, image);
}

function sendText(ws: WebSocket, text: string): void {
  if (ws.readyState === ws.OPEN) ws.send(text);
}
