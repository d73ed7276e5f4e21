// Execution events: a discriminated union with the names ComfyUI users already know.

import type { Preview, UiOutput } from './types.js';

export type ExecutionEvent =
  | { type: 'execution_start'; data: { promptId: string; timestamp: number; nodes: string[] } }
  | { type: 'execution_cached'; data: { promptId: string; nodes: string[] } }
  | { type: 'executing'; data: { promptId: string; nodeId: string; nodeType: string } }
  | { type: 'progress'; data: { promptId: string; nodeId: string; step: number; total: number } }
  | { type: 'preview'; data: { promptId: string; nodeId: string; step: number; total: number; preview: Preview } }
  | { type: 'executed'; data: { promptId: string; nodeId: string; nodeType: string; ui?: UiOutput; ms: number } }
  /** A node did not do all it was asked (a prompt word the model does not know); sent again when it comes from the cache. */
  | { type: 'execution_warning'; data: { promptId: string; nodeId: string; nodeType: string; message: string } }
  | {
      type: 'execution_success';
      data: { promptId: string; timestamp: number; outputs: Record<string, UiOutput>; ms: number };
    }
  | {
      type: 'execution_error';
      data: {
        promptId: string;
        nodeId?: string;
        nodeType?: string;
        code: string;
        message: string;
        cause?: string;
        executed: string[];
      };
    }
  | { type: 'execution_interrupted'; data: { promptId: string; nodeId?: string; executed: string[] } };

export type ExecutionEventType = ExecutionEvent['type'];
export type EventOf<T extends ExecutionEventType> = Extract<ExecutionEvent, { type: T }>;
export type ExecutionListener = (event: ExecutionEvent) => void;
