// The host services model-using nodes read from their run context: device policy, session cache, model search paths.

import type { NodeContext } from '../engine/index.js';
import { defaultSessionCache, modelSearchPaths } from '../models/package.js';
import type { Device } from '../models/runtime/onnx.js';
import type { SessionCache } from '../models/session-cache.js';

/** What a host (the CLI, the server, a worker) decides for every model a run loads. */
export interface ModelHost {
  /**
   * The device policy: `auto` leaves each node's `device` param in charge; `cpu` or `cuda` pins
   * every model-using node whose param is `auto` (a worker started with `--device cpu`).
   */
  readonly device: Device;
  /** Where sessions are shared and evicted under a memory budget. */
  readonly sessions: SessionCache;
  /** Where model packages are looked for, in order (later entries override earlier ones by name). */
  readonly searchPaths: readonly string[];
}

declare module '../engine/types.js' {
  interface NodeServices {
    /** Absent when a host gives none (tests, plain executors): {@link modelHost} supplies defaults. */
    models?: ModelHost;
  }
}

/** A host's model services; what is not given takes the process defaults (device auto, the shared cache, the usual search paths). */
export function createModelHost(options: Partial<ModelHost> = {}): ModelHost {
  return {
    device: options.device ?? 'auto',
    sessions: options.sessions ?? defaultSessionCache(),
    searchPaths: options.searchPaths ?? modelSearchPaths(),
  };
}

/** The model services of a run: the host's, or the defaults when it gave none. */
export function modelHost(ctx: Pick<NodeContext, 'services'>): ModelHost {
  return ctx.services.models ?? createModelHost();
}

/** The device a node runs its model on: its own param, unless that is `auto` and the host pins one. */
export function deviceFor(param: Device, host: ModelHost): Device {
  return param === 'auto' ? host.device : param;
}
