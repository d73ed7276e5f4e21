// Owns talking to the Skyloom server: typed REST calls under /api and the /ws event stream with a typed event map.

import type {
  DeleteHistoryResponse,
  DeleteQueuedResponse,
  ErrorBody,
  ExtractResponse,
  HistoryEntry,
  HistoryList,
  HistoryQuery,
  InterruptResponse,
  Issue,
  ModelListingRef,
  ModelsResponse,
  PreviewMetadata,
  PromptResponse,
  QueueResponse,
  ServerMessage,
  ServerMessageMap,
  SystemInfo,
  UploadList,
  ValidateResponse,
  UploadResponse,
  WorkflowList,
} from '../../../protocol/index.js';
import { decodePreviewFrame } from '../../../protocol/preview.js';
import type { NodeCatalogEntry } from '../../../engine/types.js';
import type { Workflow } from '../../../engine/workflow.js';

export type ModelListing = ModelListingRef;
export type { HistoryQuery };

/** An error answer of the server, with its code and, for a workflow, every validation issue. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = {};
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload, ...init });
  } catch (cause) {
    throw new ApiError(0, 'network', `The server cannot be reached (${(cause as Error).message})`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = (json as ErrorBody | undefined)?.error;
    throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `${method} ${path} failed with HTTP ${res.status}`, error?.issues ?? []);
  }
  return json as T;
}

const enc = encodeURIComponent;

export const api = {
  nodes: () => request<NodeCatalogEntry[]>('GET', '/api/nodes'),
  models: () => request<ModelsResponse>('GET', '/api/models'),
  system: () => request<SystemInfo>('GET', '/api/system'),
  queuePrompt: (workflow: Workflow, clientId: string) => request<PromptResponse>('POST', '/api/prompt', { workflow, clientId }),
  validate: (workflow: Workflow, init: RequestInit = {}) => request<ValidateResponse>('POST', '/api/validate', { workflow }, init),
  queue: () => request<QueueResponse>('GET', '/api/queue'),
  cancelQueued: (promptId: string) => request<DeleteQueuedResponse>('DELETE', `/api/queue/${enc(promptId)}`),
  interrupt: (promptId?: string) => request<InterruptResponse>('POST', '/api/interrupt', promptId ? { promptId } : {}),
  history: (query: HistoryQuery = {}) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
    return request<HistoryList>('GET', `/api/history?${params}`);
  },
  historyEntry: (promptId: string) => request<HistoryEntry>('GET', `/api/history/${enc(promptId)}`),
  deleteHistory: (promptId: string, files: 'keep' | 'delete' = 'keep') => request<DeleteHistoryResponse>('DELETE', `/api/history/${enc(promptId)}?files=${files}`),
  uploads: () => request<UploadList>('GET', '/api/uploads'),
  upload: (file: File) => {
    const form = new FormData();
    form.append('file', file, file.name);
    return request<UploadResponse>('POST', '/api/uploads', form);
  },
  workflows: () => request<WorkflowList>('GET', '/api/workflows'),
  workflow: (name: string) => request<unknown>('GET', `/api/workflows/${enc(name)}`),
  saveWorkflow: (name: string, workflow: Workflow) => request<{ name: string; created: boolean }>('PUT', `/api/workflows/${enc(name)}`, workflow),
  deleteWorkflow: (name: string) => request<{ name: string; deleted: boolean }>('DELETE', `/api/workflows/${enc(name)}`),
  extract: (from: { output: string } | { upload: string }) => request<ExtractResponse>('POST', '/api/workflows/extract', from),
};

/** A decoded binary preview: its metadata and the image (animated WebP or a JPEG strip). */
export interface PreviewFrame {
  metadata: PreviewMetadata;
  blob: Blob;
}

/** Every event the socket emits: the server's JSON messages by type, previews and connection changes. */
export type ClientEventMap = ServerMessageMap & {
  preview: PreviewFrame;
  connection: { open: boolean };
};
export type ClientEventType = keyof ClientEventMap;
type Listener<K extends ClientEventType> = (data: ClientEventMap[K]) => void;

/**
 * Splits one binary preview frame (the codec of protocol/preview.ts, shared with the server).
 * @throws RangeError for a frame shorter than its header says
 */
export function decodePreview(buffer: ArrayBuffer): PreviewFrame {
  const { metadata, image } = decodePreviewFrame(new Uint8Array(buffer));
  return { metadata, blob: new Blob([image as Uint8Array<ArrayBuffer>], { type: metadata.mime }) };
}

/** The `/ws` connection: reconnects with backoff, and dispatches each message to its typed listeners. */
export class SkyloomSocket {
  readonly #listeners = new Map<ClientEventType, Set<(data: never) => void>>();
  #ws?: WebSocket;
  #retry = 500;
  #closed = false;
  #timer?: ReturnType<typeof setTimeout>;
  open = false;

  constructor(readonly clientId: string) {}

  on<K extends ClientEventType>(type: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (data: never) => void);
    return () => set.delete(listener as (data: never) => void);
  }

  #emit<K extends ClientEventType>(type: K, data: ClientEventMap[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) (listener as Listener<K>)(data);
  }

  connect(): void {
    this.#closed = false;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws?clientId=${encodeURIComponent(this.clientId)}&preview=webp`);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onopen = () => {
      this.#retry = 500;
      this.open = true;
      this.#emit('connection', { open: true });
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data === 'string') {
        const message = JSON.parse(event.data) as ServerMessage;
        this.#emit(message.type, message.data as never);
      } else {
        this.#emit('preview', decodePreview(event.data));
      }
    };
    ws.onclose = () => {
      const was = this.open;
      this.open = false;
      if (was) this.#emit('connection', { open: false });
      if (this.#closed) return;
      this.#timer = setTimeout(() => this.connect(), this.#retry);
      this.#retry = Math.min(this.#retry * 2, 8000);
    };
    // An error is always followed by close, which reconnects; nothing to log in the console.
    ws.onerror = () => {};
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ws?.close();
  }
}
