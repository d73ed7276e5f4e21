// Owns GET /system: versions, device, queue counts and live workers.

import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Router } from 'express';
import { packageRoot } from '../../engine/index.js';
import { PROTOCOL_VERSION, type SystemInfo } from '../../protocol/index.js';
import { availableDevices } from '../../models/runtime/onnx.js';
import { route, type RouteContext } from './context.js';

export function systemRoutes({ queue }: RouteContext): Router {
  const router = Router();
  router.get(
    '/system',
    route(async (_req, res) => {
      const info: SystemInfo = {
        versions: { skyloom: packageVersion(), node: process.version, protocol: PROTOCOL_VERSION },
        device: { platform: process.platform, arch: process.arch, cpus: cpus().length, totalMemory: totalmem(), devices: availableDevices() },
        queue: queue.counts(),
        queueEngine: queue.engine,
      };
      if (queue.engine === 'redis') info.workers = await queue.workers();
      res.json(info);
    }),
  );
  return router;
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
