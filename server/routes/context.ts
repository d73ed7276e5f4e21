// Owns what every route module is given: the store, queue, executors, hub, folders and options of one app.

import type { NextFunction, Request, Response } from 'express';
import type { AdmissionLimits, Executor, Logger, NodeRegistry } from '../../engine/index.js';
import type { Hub } from '../hub.js';
import type { PromptQueue } from '../queue.js';
import type { AccessPolicy } from '../security.js';
import type { Store } from '../store.js';
import type { WorkflowLibrary } from '../workflows.js';

/** The folders of one data dir. */
export interface DataDirs {
  data: string;
  output: string;
  uploads: string;
  workflows: string;
  temp: string;
}

/** The parts of one app the routes use; built once by createApp. */
export interface RouteContext {
  registry: NodeRegistry;
  store: Store;
  queue: PromptQueue;
  /** Runs prompts (embedded queue) and validates them. */
  executor: Executor;
  /** Validates workflows before they are queued (with a queue engine: without "is the model here" checks). */
  validator: Executor;
  hub: Hub;
  library: WorkflowLibrary;
  dirs: DataDirs;
  policy: AccessPolicy;
  maxUploadBytes: number;
  /** The admission limits now (temp disk follows the free space). */
  limits(): AdmissionLimits;
  log: Logger;
}

/** Express 5 rejects a thrown error from an async handler into `next`; this only narrows the types. */
export type Handler = (req: Request, res: Response, next: NextFunction) => Promise<unknown> | unknown;
export const route = (fn: Handler): Handler => fn;
