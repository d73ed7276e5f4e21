// The WebSocket's JSON messages, server → client: one schema each, a discriminated union on `type`.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Nullable, UiOutputRefSchema } from './rest.js';

// ---- WebSocket: server → client JSON messages ----

/** Bumped when a message changes shape incompatibly. */
export const PROTOCOL_VERSION = 1;

const message = <K extends string, D extends TSchema>(type: K, data: D) => Type.Object({ type: Type.Literal(type), data });

/** Queue size; sent to every client on each change, and first to a client that connects (with its `sid`). */
export const StatusMessageSchema = message('status', Type.Object({ queueRemaining: Type.Integer(), running: Nullable(Type.String()), sid: Type.Optional(Type.String()) }));

export const ExecutionStartMessageSchema = message('execution_start', Type.Object({ promptId: Type.String(), timestamp: Type.Number(), nodes: Type.Array(Type.String()) }));
export const ExecutionCachedMessageSchema = message('execution_cached', Type.Object({ promptId: Type.String(), nodes: Type.Array(Type.String()) }));
export const ExecutingMessageSchema = message('executing', Type.Object({ promptId: Type.String(), nodeId: Type.String(), nodeType: Type.String() }));
export const ProgressMessageSchema = message('progress', Type.Object({ promptId: Type.String(), nodeId: Type.String(), step: Type.Integer(), total: Type.Integer() }));
export const ExecutedMessageSchema = message(
  'executed',
  Type.Object({
    promptId: Type.String(),
    nodeId: Type.String(),
    nodeType: Type.String(),
    ui: Type.Optional(UiOutputRefSchema),
    ms: Type.Number(),
  }),
);
/** What a node could not do as asked (e.g. prompt words its model does not know); also kept in the history. */
export const ExecutionWarningMessageSchema = message(
  'execution_warning',
  Type.Object({ promptId: Type.String(), nodeId: Type.String(), nodeType: Type.String(), message: Type.String() }),
);
export const ExecutionSuccessMessageSchema = message(
  'execution_success',
  Type.Object({
    promptId: Type.String(),
    timestamp: Type.Number(),
    outputs: Type.Record(Type.String(), UiOutputRefSchema),
    ms: Type.Number(),
  }),
);
export const ExecutionErrorMessageSchema = message(
  'execution_error',
  Type.Object({
    promptId: Type.String(),
    nodeId: Type.Optional(Type.String()),
    nodeType: Type.Optional(Type.String()),
    code: Type.String(),
    message: Type.String(),
    executed: Type.Array(Type.String()),
  }),
);
export const ExecutionInterruptedMessageSchema = message(
  'execution_interrupted',
  Type.Object({ promptId: Type.String(), nodeId: Type.Optional(Type.String()), executed: Type.Array(Type.String()) }),
);

/** A finished prompt's history record was deleted (`DELETE /api/history/:promptId`); sent to every client so each tab drops it. */
export const HistoryDeletedMessageSchema = message('history_deleted', Type.Object({ promptId: Type.String() }));

/** Every JSON message the server sends over `/ws`. Previews are binary frames (see below). */
export const ServerMessageSchema = Type.Union([
  StatusMessageSchema,
  ExecutionStartMessageSchema,
  ExecutionCachedMessageSchema,
  ExecutingMessageSchema,
  ProgressMessageSchema,
  ExecutedMessageSchema,
  ExecutionWarningMessageSchema,
  ExecutionSuccessMessageSchema,
  ExecutionErrorMessageSchema,
  ExecutionInterruptedMessageSchema,
  HistoryDeletedMessageSchema,
]);
export type ServerMessage = Static<typeof ServerMessageSchema>;
export type ServerMessageType = ServerMessage['type'];
/** A typed event map for clients: message type → its `data`. */
export type ServerMessageMap = { [M in ServerMessage as M['type']]: M['data'] };
