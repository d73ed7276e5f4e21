// Test helpers for the queue engine: a private redis-server per test file (loopback, free port, temp dir), and `skyloom serve` / `skyloom worker` as processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { tempDir } from './helpers.js';

const root = resolve(import.meta.dirname, '../..');
const pack = join(root, 'tests/fixtures/test-pack.ts');

/** A free loopback port (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((res, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface RedisProcess {
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
  /** Stops it (SIGTERM: Redis writes its append-only file and exits). */
  stop(): Promise<void>;
}

/**
 * Starts Debian's redis-server on 127.0.0.1 with an append-only file fsynced on every write, so
 * a restart keeps everything BullMQ wrote; resolves once it accepts connections.
 * @throws when redis-server is not installed (.ci/run installs it)
 */
export async function startRedis(options: { port?: number; dir?: string } = {}): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? tempDir('skyloom-redis-');
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'yes'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const exited = new Promise<void>((res) => child.once('close', () => res()));
  await new Promise<void>((res, reject) => {
    child.once('error', (e) => reject(new Error(`redis-server did not start (is it installed? apt-get install redis-server): ${e.message}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('Ready to accept connections')) res();
    });
    void exited.then(() => reject(new Error(`redis-server exited: ${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function start(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Proc & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), ...args, '--nodes', pack], {
    cwd: root,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
  });
  const proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal }))),
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await proc.exited;
    },
  };
  child.stderr!.on('data', (d: Buffer) => (proc.stderr += d));
  return new Promise((res, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      proc.stdout += d;
      const match = ready.exec(proc.stdout);
      if (match) res(Object.assign(proc, { match }));
    });
    void proc.exited.then((r) => reject(new Error(`${args[0]} exited early (${r.code ?? r.signal}): ${proc.stderr}`)));
  });
}

/** `skyloom serve --queue URL` on a free port; resolves with its base URL once it listens. */
export async function startServe(queue: string, dataDir: string): Promise<Proc & { base: string }> {
  const p = await start(['serve', '--port', '0', '--data-dir', dataDir, '--queue', queue], /serving at (http:\/\/127\.0\.0\.1:\d+)\//);
  return Object.assign(p, { base: p.match[1]! });
}

/** `skyloom worker` with a short lock (a killed worker's job is retried after about `lockMs`). */
export async function startWorker(queue: string, dataDir: string, id: string, options: { args?: string[]; env?: Record<string, string> } = {}): Promise<Proc> {
  return start(['worker', '--queue', queue, '--data-dir', dataDir, '--id', id, '--lock-ms', '2000', '--device', 'cpu', ...(options.args ?? [])], /is taking prompts from/, {
    // No model packages unless a test gives some: capabilities are then exactly what the test says.
    SKYLOOM_MODELS: '',
    HOME: tempDir('skyloom-home-'),
    ...options.env,
  });
}

/** Runs `skyloom worker` expecting it to refuse to start. */
export function refusedWorker(queue: string, dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), 'worker', '--queue', queue, '--data-dir', dataDir, '--nodes', pack], { cwd: root });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  // A worker that wrongly starts must not outlive the test.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((res) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stderr });
    }),
  );
}
