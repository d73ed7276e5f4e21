// Owns running the server as a process: bind checks, listen, the printed URL and a graceful stop on SIGINT/SIGTERM.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppOptions, type SkyloomApp } from './app.js';
import { checkBind } from './security.js';

export interface ServeOptions extends AppOptions {
  host: string;
  port: number;
}

export interface RunningServer {
  sky: SkyloomApp;
  http: Server;
  url: string;
  /** Stops accepting, interrupts the running prompt, closes sockets and the database. */
  stop(): Promise<void>;
}

/**
 * Creates the app and listens.
 * @throws EngineError `token_required` for a non-loopback host without a token (before anything opens)
 * @throws QueueConnectionError when `queue` names a Redis that does not answer
 * @throws the listen error (address in use, permission denied)
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  checkBind(options.host, options.token);
  const sky = createApp(options);
  try {
    await sky.ready;
  } catch (error) {
    await sky.close();
    throw error;
  }
  const http = createServer(sky.app);
  sky.attach(http);
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port, options.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await sky.close();
    throw error;
  }
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      await sky.close();
      http.closeAllConnections();
      await closed;
    })());
  return { sky, http, url: `http://${host}:${address.port}/`, stop };
}
