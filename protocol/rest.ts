// The server's REST bodies and worker announcements: one JSON Schema each, each TS type derived from it.
//
// Schemas are built with TypeBox, so each is plain JSON Schema data (the server validates bodies
// with ajv against it, the editor can too) and `Static<typeof X>` is its type: the two cannot
// drift apart. This module knows nothing of HTTP libraries; the server and the editor both import it.

import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

// ---- Shared pieces ----

/** One validation problem, as `WorkflowValidationError.issues` holds it. */
export const IssueSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  pointer: Type.String(),
  nodeId: Type.Optional(Type.String()),
});
export type Issue = Static<typeof IssueSchema>;

/** Every error response: `{ error: { code, message, issues? } }`. */
export const ErrorBodySchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    issues: Type.Optional(Type.Array(IssueSchema)),
  }),
});
export type ErrorBody = Static<typeof ErrorBodySchema>;

/** A file an output node wrote, as clients see it: a path inside the output folder and a URL. */
export const OutputFileRefSchema = Type.Object({
  /** Path relative to the output folder, `/`-separated. */
  filename: Type.String(),
  kind: Type.Union([Type.Literal('video'), Type.Literal('image'), Type.Literal('text'), Type.Literal('file')]),
  mime: Type.Optional(Type.String()),
  /** Where to download it (`/api/outputs/...`); absent for a file written outside the output folder. */
  url: Type.Optional(Type.String()),
  /** Its size in bytes, in history answers; absent when the file is no longer in the output folder. */
  size: Type.Optional(Type.Integer()),
});
export type OutputFileRef = Static<typeof OutputFileRefSchema>;

/** What an output node produced, with file paths turned into output-folder references. */
export const UiOutputRefSchema = Type.Object({
  files: Type.Optional(Type.Array(OutputFileRefSchema)),
  values: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type UiOutputRef = Static<typeof UiOutputRefSchema>;

export const PromptStatusSchema = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('success'),
  Type.Literal('error'),
  Type.Literal('interrupted'),
  Type.Literal('cancelled'),
]);
export type PromptStatus = Static<typeof PromptStatusSchema>;

/** Why a prompt failed. */
export const PromptErrorSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  nodeId: Type.Optional(Type.String()),
  nodeType: Type.Optional(Type.String()),
  issues: Type.Optional(Type.Array(IssueSchema)),
});
export type PromptError = Static<typeof PromptErrorSchema>;

// ---- REST bodies ----

/** `POST /api/prompt` */
export const PromptRequestSchema = Type.Object(
  {
    workflow: Type.Object({}, { additionalProperties: true }),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /**
     * Fan-out: run the workflow once per seed, `param` (`nodeId.param`) set to each value; one
     * history entry collects them. Only with a queue engine (`serve --queue redis://…`).
     */
    seeds: Type.Optional(
      Type.Object({ param: Type.String({ pattern: '^[^.]+\\.[^.]+$' }), values: Type.Array(Type.Integer(), { minItems: 1, maxItems: 256 }) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type PromptRequest = Static<typeof PromptRequestSchema>;

export const PromptResponseSchema = Type.Object({ promptId: Type.String(), number: Type.Integer() });
export type PromptResponse = Static<typeof PromptResponseSchema>;

/** `POST /api/validate`: check a workflow without queueing it. */
export const ValidateRequestSchema = Type.Object({ workflow: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: false });
export type ValidateRequest = Static<typeof ValidateRequestSchema>;

/**
 * `valid` with the workflow as it would run (an older format version upgraded), or every issue
 * with its node id and JSON pointer.
 */
export const ValidateResponseSchema = Type.Union([
  Type.Object({
    valid: Type.Literal(true),
    workflow: Type.Object({}, { additionalProperties: true }),
    /** What does not stop a run: nodes that feed no output, and their own problems. */
    warnings: Type.Optional(Type.Array(IssueSchema)),
  }),
  Type.Object({ valid: Type.Literal(false), issues: Type.Array(IssueSchema) }),
]);
export type ValidateResponse = Static<typeof ValidateResponseSchema>;

/** One prompt in `GET /api/queue`. */
export const QueueItemSchema = Type.Object({
  promptId: Type.String(),
  number: Type.Integer(),
  clientId: Nullable(Type.String()),
  queuedAt: Type.Number(),
  startedAt: Nullable(Type.Number()),
});
export type QueueItem = Static<typeof QueueItemSchema>;

/** `GET /api/queue`: the running prompt (if any) and those waiting, in the order they will run. */
export const QueueResponseSchema = Type.Object({
  running: Type.Array(QueueItemSchema),
  pending: Type.Array(QueueItemSchema),
});
export type QueueResponse = Static<typeof QueueResponseSchema>;

/** `POST /api/interrupt`: without a prompt id, whatever is running is interrupted. */
export const InterruptRequestSchema = Type.Object({ promptId: Type.Optional(Type.String()) }, { additionalProperties: false });
export type InterruptRequest = Static<typeof InterruptRequestSchema>;

export const InterruptResponseSchema = Type.Object({ interrupted: Type.Boolean(), promptId: Nullable(Type.String()) });
export type InterruptResponse = Static<typeof InterruptResponseSchema>;

/** `DELETE /api/queue/:promptId` */
export const DeleteQueuedResponseSchema = Type.Object({ deleted: Type.Boolean(), promptId: Type.String() });
export type DeleteQueuedResponse = Static<typeof DeleteQueuedResponseSchema>;

/** One prompt's record: `GET /api/history/:promptId`, and the items of `GET /api/history`. */
/** One `execution_warning`, as the history keeps it. */
export const RunWarningSchema = Type.Object({ nodeId: Type.String(), nodeType: Type.String(), message: Type.String() });
export type RunWarning = Static<typeof RunWarningSchema>;

export const HistoryEntrySchema = Type.Object({
  promptId: Type.String(),
  number: Type.Integer(),
  clientId: Nullable(Type.String()),
  status: PromptStatusSchema,
  timings: Type.Object({
    queuedAt: Type.Number(),
    startedAt: Nullable(Type.Number()),
    finishedAt: Nullable(Type.Number()),
    /** The executor's run time in milliseconds. */
    ms: Nullable(Type.Number()),
    /** Milliseconds per node that ran (cached nodes are absent). */
    nodes: Type.Record(Type.String(), Type.Number()),
  }),
  executed: Type.Array(Type.String()),
  cached: Type.Array(Type.String()),
  outputs: Type.Record(Type.String(), UiOutputRefSchema),
  error: Nullable(PromptErrorSchema),
  /** What nodes could not do as asked (the run's `execution_warning` messages), in the order they came. */
  warnings: Type.Optional(Type.Array(RunWarningSchema)),
  /** The worker that ran it, when a queue engine spread prompts over worker processes. */
  worker: Type.Optional(Type.String()),
  /** For a seeds fan-out: each seed's prompt, in request order (their outputs are merged into `outputs`). */
  seeds: Type.Optional(Type.Array(Type.Object({ seed: Type.Integer(), promptId: Type.String(), status: PromptStatusSchema, worker: Type.Optional(Type.String()) }))),
  workflow: Type.Optional(Type.Object({}, { additionalProperties: true })),
  /** The workflow's title, when it has one. */
  title: Type.Optional(Type.String()),
});
export type HistoryEntry = Static<typeof HistoryEntrySchema>;

/** The query of `GET /api/history`, as the client sends it (the server reads each from its string). */
export const HistoryQuerySchema = Type.Object({
  /** 0–1000, default 50. */
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  /** A prompt number: only older prompts (a cursor that prompts finishing meanwhile do not shift). */
  before: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Comma-separated finished states: `success`, `error`, `interrupted`, `cancelled`. */
  status: Type.Optional(Type.String()),
  /** Prompts with at least one output file of this kind. */
  kind: Type.Optional(OutputFileRefSchema.properties.kind),
  /** Text in the workflow's title or in a node's `text` param (the prompt), up to 200 characters. */
  q: Type.Optional(Type.String({ maxLength: 200 })),
});
export type HistoryQuery = Static<typeof HistoryQuerySchema>;

/**
 * `GET /api/history?limit&offset&before&status&kind&q`: newest first, without the workflows.
 * `total` counts every entry the filters (status, kind, q) match, whatever the page.
 */
export const HistoryListSchema = Type.Object({
  items: Type.Array(HistoryEntrySchema),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});
export type HistoryList = Static<typeof HistoryListSchema>;

/** `DELETE /api/history/:promptId?files=keep|delete`: the record is gone; what became of its output files. */
export const DeleteHistoryResponseSchema = Type.Object({
  deleted: Type.Literal(true),
  promptId: Type.String(),
  files: Type.Object({
    /** Files deleted from the output folder (with `files=delete`). */
    removed: Type.Array(Type.String()),
    /** Files left in place: all of them by default; with `files=delete`, those another record still names. */
    kept: Type.Array(Type.String()),
    /** Files the record named that were no longer in the output folder. */
    missing: Type.Array(Type.String()),
  }),
});
export type DeleteHistoryResponse = Static<typeof DeleteHistoryResponseSchema>;

/** `POST /api/uploads` (multipart/form-data, one file part). */
export const UploadResponseSchema = Type.Object({
  /** The stored name: `<sha256>.<ext>` — the same bytes always get the same name. */
  name: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  mime: Type.String(),
  kind: Type.Union([Type.Literal('image'), Type.Literal('video')]),
  url: Type.String(),
  /** False when the same content had been uploaded before. */
  created: Type.Boolean(),
});
export type UploadResponse = Static<typeof UploadResponseSchema>;

/** `GET /api/uploads`: the files a path param can name (uploads and the shipped samples), newest first. */
export const UploadListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      /** The name a path param takes: relative to the uploads folder, `/`-separated. */
      name: Type.String(),
      kind: Type.Union([Type.Literal('image'), Type.Literal('video')]),
      size: Type.Integer(),
      modified: Type.Number(),
      url: Type.String(),
    }),
  ),
});
export type UploadList = Static<typeof UploadListSchema>;

/** `GET /api/workflows` */
export const WorkflowListSchema = Type.Object({
  items: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer(), modified: Type.Number() })),
});
export type WorkflowList = Static<typeof WorkflowListSchema>;

/** `POST /api/workflows/extract`: name exactly one file, an output or an upload. */
export const ExtractRequestSchema = Type.Object(
  {
    output: Type.Optional(Type.String({ minLength: 1 })),
    upload: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);
export type ExtractRequest = Static<typeof ExtractRequestSchema>;

export const ExtractResponseSchema = Type.Object({
  workflow: Type.Object({}, { additionalProperties: true }),
  provenance: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type ExtractResponse = Static<typeof ExtractResponseSchema>;

/** One installed model package, as `models/package.ts` lists it. */
export const ModelListingSchema = Type.Object({
  name: Type.String(),
  /** The package's folder on the server's disk. */
  dir: Type.String(),
  kind: Type.Union([Type.Literal('skyloom'), Type.Literal('stable-diffusion'), Type.Literal('wannx')]),
  /** The model family (models/families/): skyloom, stable-diffusion, wan. */
  family: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  license: Type.Optional(Type.String()),
});
export type ModelListingRef = Static<typeof ModelListingSchema>;

/** `GET /api/models` */
export const ModelsResponseSchema = Type.Object({ models: Type.Array(ModelListingSchema) });
export type ModelsResponse = Static<typeof ModelsResponseSchema>;

/**
 * What a worker process announces (to Redis, refreshed while it lives): where it runs, what it can
 * run — capabilities are `device:<cpu|cuda>` and `model:<package name>` — and what it runs now.
 */
export const WorkerAnnouncementSchema = Type.Object({
  id: Type.String(),
  host: Type.String(),
  pid: Type.Integer(),
  device: Type.String(),
  concurrency: Type.Integer(),
  capabilities: Type.Array(Type.String()),
  running: Type.Array(Type.String()),
  startedAt: Type.Number(),
  /** When it last refreshed this; a worker silent for longer than its `ttlMs` is gone. */
  seenAt: Type.Number(),
  ttlMs: Type.Integer(),
});
export type WorkerAnnouncement = Static<typeof WorkerAnnouncementSchema>;

/** `GET /api/system` */
export const SystemInfoSchema = Type.Object({
  versions: Type.Object({ skyloom: Type.String(), node: Type.String(), protocol: Type.Integer() }),
  device: Type.Object({
    platform: Type.String(),
    arch: Type.String(),
    cpus: Type.Integer(),
    totalMemory: Type.Integer(),
    /** Execution providers Skyloom may use; `cuda` only when its libraries are installed. */
    devices: Type.Array(Type.String()),
  }),
  queue: Type.Object({ running: Type.Integer(), pending: Type.Integer() }),
  /** `embedded` (SQLite, one worker in the server) or `redis` (BullMQ, worker processes). */
  queueEngine: Type.Optional(Type.Union([Type.Literal('embedded'), Type.Literal('redis')])),
  /** With a queue engine: the workers alive now, as they announced themselves. */
  workers: Type.Optional(Type.Array(WorkerAnnouncementSchema)),
});
export type SystemInfo = Static<typeof SystemInfoSchema>;
