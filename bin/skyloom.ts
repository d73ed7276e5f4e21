#!/usr/bin/env node
// The `skyloom` command: run, validate and list what the engine knows, without a screen.

import { Command, CommanderError, Option } from 'commander';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadNodePack, packageRoot, preflight, validateWorkflow, type AdmissionLimits, type NodeRegistry } from '../engine/index.js';
import { addModelFolder, listModels, modelSearchPaths, packageKind, resolveModelDir } from '../models/package.js';
import { createRegistry } from '../nodes/index.js';
import { EXIT, readWorkflowFile, reportFailure, runCommand, UsageError } from './cli-run.js';

const collect = (value: string, previous: string[]) => [...previous, value];

/** The text-to-video workflow `skyloom generate` runs for each model family. */
const GENERATE_WORKFLOWS: Record<string, string> = {
  skyloom: 'text-to-video.json',
  'stable-diffusion': 'text-to-video.json',
  wan: 'wan/text-to-video-480p.json',
};

async function modelFamilyOf(nameOrDir: string): Promise<string> {
  const dir = await resolveModelDir(nameOrDir);
  const kind = (await packageKind(dir)) ?? 'skyloom';
  const listing = (await listModels({ searchPaths: [dirname(dir)] })).find((m) => m.dir === dir);
  return listing?.family ?? (kind === 'wannx' ? 'wan' : kind);
}

function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** `skyloom models add`: hash with a progress bar on stderr, write skyloom.json, link the folder into ~/.skyloom/models. */
async function addModel(folder: string, name: string | undefined, json: boolean): Promise<void> {
  let last = 0;
  const manifest = await addModelFolder(folder, {
    ...(name !== undefined ? { name } : {}),
    onProgress: ({ file, done, total }) => {
      const now = Date.now();
      if (json || (now - last < 200 && done < total)) return;
      last = now;
      const share = total === 0 ? 1 : done / total;
      const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
      process.stderr.write(`\rhashing [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${formatBytes(done)} / ${formatBytes(total)} ${file.slice(-40).padEnd(40)}`);
    },
  });
  if (!json) process.stderr.write('\n');
  const searchPaths = modelSearchPaths();
  const inside = searchPaths.some((p) => dirname(folder) === resolve(p));
  let link = folder;
  if (!inside) {
    const home = searchPaths[1]!;
    await mkdir(home, { recursive: true });
    link = join(home, manifest.name);
    try {
      await symlink(folder, link, 'dir');
    } catch (error) {
      throw new UsageError(
        `wrote ${join(folder, 'skyloom.json')} but cannot link it as ${link} (${error instanceof Error ? error.message : String(error)}); move the folder into ${home} or add its parent to $SKYLOOM_MODELS`,
      );
    }
  }
  const listing = (await listModels()).find((m) => m.name === manifest.name);
  const caps = listing?.capabilities?.join(', ') ?? 't2v';
  const size = formatBytes(Object.keys(manifest.files).length > 0 ? (listing?.sizeBytes ?? 0) : 0);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ name: manifest.name, family: manifest.family, dir: folder, link, capabilities: listing?.capabilities ?? [], sizeBytes: listing?.sizeBytes })}\n`,
    );
  else
    process.stdout.write(
      `added ${manifest.name}: family ${manifest.family ?? 'skyloom'}, ${size}, can ${caps}; ${link === folder ? folder : `${link} → ${folder}`}\nrun it: skyloom generate --model ${manifest.name} "a cat walking in a sunlit garden"\n`,
    );
}

async function registryWith(packs: string[]): Promise<NodeRegistry> {
  const registry = createRegistry();
  for (const pack of packs) await loadNodePack(registry, pack);
  return registry;
}

/** The admission flags of `serve`, as commander gives them. */
interface ServeFlags {
  maxPixels?: string;
  maxFrames?: string;
  maxVideoSeconds?: string;
  maxWork?: string;
  maxMemory?: string;
  maxTemp?: string;
  maxNodes?: string;
  maxString?: string;
  allowModelPaths: boolean;
  repair: boolean;
}

/**
 * Reads a count or size: digits, optionally with K, M, G or T (powers of 1024) or a `×` product.
 * @throws UsageError naming the flag
 */
function sizeFlag(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?$/i.exec(value.trim()) ?? /^(\d+)[x×](\d+)$/.exec(value.trim());
  if (!m) throw new UsageError(`${flag} must be a number like 1000, 24G or 3840x2160, got "${value}"`);
  if (/[x×]/.test(value)) return Number(m[1]) * Number(m[2]);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * unit);
}

function limitsFrom(opts: ServeFlags): Partial<AdmissionLimits> {
  const out: Partial<AdmissionLimits> = {};
  const flags: Array<[keyof AdmissionLimits, string | undefined, string]> = [
    ['maxPixels', opts.maxPixels, '--max-pixels'],
    ['maxFrames', opts.maxFrames, '--max-frames'],
    ['maxVideoSeconds', opts.maxVideoSeconds, '--max-video-seconds'],
    ['maxWork', opts.maxWork, '--max-work'],
    ['maxMemoryBytes', opts.maxMemory, '--max-memory'],
    ['maxTempBytes', opts.maxTemp, '--max-temp'],
    ['maxNodes', opts.maxNodes, '--max-nodes'],
    ['maxStringBytes', opts.maxString, '--max-string'],
  ];
  for (const [key, value, flag] of flags) if (value !== undefined) out[key] = sizeFlag(flag, value);
  return out;
}

function program(setExit: (code: number) => void): Command {
  const cli = new Command('skyloom')
    .description('Text to video through a node graph.')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  cli
    .command('run')
    .description('Run a saved workflow file.')
    .argument('<workflow>', 'workflow JSON file')
    .option('--set <nodeId.param=value>', 'override a param (repeatable)', collect, [])
    .option('--out <dir>', 'where output files go', 'output')
    .option('--json', 'print newline-delimited JSON events on stdout', false)
    .option('--target <nodeId>', 'run only what this node needs (repeatable)', collect, [])
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable; a pack is code: load only what you trust)').argParser(collect).default([]))
    .action(async (file: string, opts: { set: string[]; out: string; json: boolean; target: string[]; nodes: string[] }) => {
      try {
        const registry = await registryWith(opts.nodes);
        setExit(await runCommand(file, registry, { set: opts.set, out: opts.out, json: opts.json, targets: opts.target }));
      } catch (error) {
        setExit(reportFailure(error, opts.json));
      }
    });

  cli
    .command('validate')
    .description('Check a workflow file; lists every problem with its node id and JSON pointer.')
    .argument('<workflow>', 'workflow JSON file')
    .option('--json', 'print the result as JSON', false)
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable)').argParser(collect).default([]))
    .action(async (file: string, opts: { json: boolean; nodes: string[] }) => {
      try {
        const registry = await registryWith(opts.nodes);
        const doc = await readWorkflowFile(file);
        const validated = await validateWorkflow(doc, registry);
        await preflight(validated);
        const message = `${file}: valid (${validated.nodes.size} nodes${validated.migratedFrom !== undefined ? `, upgraded from format version ${validated.migratedFrom}` : ''})`;
        const { warnings } = validated;
        if (opts.json) process.stdout.write(`${JSON.stringify({ valid: true, nodes: validated.nodes.size, ...(warnings.length > 0 ? { warnings } : {}) })}\n`);
        else {
          // Warnings do not stop a run: nodes that feed no output, and their own problems.
          const lines = warnings.map((w) => `  warning: ${w.nodeId ? `node "${w.nodeId}" ` : ''}at ${w.pointer || '/'}: ${w.message}`);
          process.stdout.write(`${[message, ...lines].join('\n')}\n`);
        }
        setExit(EXIT.ok);
      } catch (error) {
        setExit(reportFailure(error, opts.json));
      }
    });

  cli
    .command('nodes')
    .description('List the node types (the catalog).')
    .option('--json', 'print the catalog as JSON', false)
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable)').argParser(collect).default([]))
    .action(async (opts: { json: boolean; nodes: string[] }) => {
      try {
        const catalog = (await registryWith(opts.nodes)).catalog();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(catalog, null, 2)}\n`);
        } else {
          let category = '';
          for (const n of catalog) {
            if (n.category !== category) process.stdout.write(`${(category = n.category)}\n`);
            const ins = [...n.inputs.map((i) => `${i.name}:${i.type}`), ...n.params.map((p) => `${p.name}=${JSON.stringify(p.default)}`)];
            const outs = n.outputs.map((o) => `${o.name}:${o.type}`);
            process.stdout.write(`  ${n.type.padEnd(18)} ${n.description}\n${' '.repeat(21)}(${ins.join(', ')}) → (${outs.join(', ')})\n`);
          }
        }
        setExit(EXIT.ok);
      } catch (error) {
        setExit(reportFailure(error, opts.json));
      }
    });

  cli
    .command('generate')
    .description('Make a video from a prompt with the default text-to-video workflow.')
    .argument('<prompt>', 'what the video should show')
    .option('--seed <n>', 'noise seed', '42')
    .addOption(new Option('--aspect <ratio>', "aspect ratio (default: the workflow's, 1:1 or Wan's 16:9)").choices(['1:1', '16:9', '9:16']))
    .option('--seconds <s>', "length in seconds (default: the workflow's, 2 s or Wan's 81 frames)")
    .option('--steps <n>', "sampling steps (default: the workflow's, 20 or Wan's 50)")
    .option('--model <name>', 'model package', 'skyloom-tiny')
    .option('--out <dir>', 'where output files go', 'output')
    .option('--json', 'print newline-delimited JSON events on stdout', false)
    .action(async (prompt: string, opts: { seed: string; aspect?: string; seconds?: string; steps?: string; model: string; out: string; json: boolean }) => {
      try {
        // Each family has its own text-to-video workflow (sizes, frame rules, sampler settings differ).
        const family = await modelFamilyOf(opts.model);
        const workflow = join(packageRoot(), 'workflows', GENERATE_WORKFLOWS[family] ?? 'text-to-video.json');
        const set = [`prompt.text=${prompt}`, `sampler.seed=${opts.seed}`, `model.name=${opts.model}`];
        if (opts.steps !== undefined) set.push(`sampler.steps=${opts.steps}`);
        if (opts.aspect !== undefined) set.push(`latent.aspect=${opts.aspect}`);
        if (opts.seconds !== undefined) set.push(`latent.seconds=${opts.seconds}`, 'latent.frames=0');
        setExit(await runCommand(workflow, createRegistry(), { set, out: opts.out, json: opts.json, targets: [] }));
      } catch (error) {
        setExit(reportFailure(error, opts.json));
      }
    });

  cli
    .command('models')
    .description('List the installed model packages and where they are looked for; `models add <folder>` installs a downloaded one.')
    .argument('[action]', '"add" to install a downloaded folder (the Wan2.1 wannx bundle, an Optimum SD export)')
    .argument('[folder]', 'the folder to add')
    .option('--name <name>', 'package name for `add` (default: wan2.1-t2v-14b for the wannx bundle, else the folder name)')
    .option('--json', 'print the list as JSON', false)
    .action(async (action: string | undefined, folder: string | undefined, opts: { json: boolean; name?: string }) => {
      try {
        if (action === 'add') {
          if (folder === undefined) throw new UsageError('skyloom models add <folder>: name the downloaded model folder');
          await addModel(resolve(folder), opts.name, opts.json);
          setExit(EXIT.ok);
          return;
        }
        if (action !== undefined) throw new UsageError(`unknown models action "${action}"; the only one is "add" (skyloom models add <folder>)`);
        const models = await listModels();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ searchPaths: modelSearchPaths(), models }, null, 2)}\n`);
        } else {
          for (const m of models) {
            const size = m.sizeBytes === undefined ? '' : formatBytes(m.sizeBytes);
            process.stdout.write(
              `${m.name.padEnd(20)} ${(m.version ?? '').padEnd(8)} ${(m.family ?? m.kind).padEnd(17)} ${size.padEnd(9)} ${(m.capabilities ?? []).join(',').padEnd(20)} ${m.dir}\n`,
            );
            if (m.description) process.stdout.write(`${' '.repeat(21)}${m.description}\n`);
          }
          if (models.length === 0) process.stdout.write('No models installed.\n');
          process.stdout.write(`Searched: ${modelSearchPaths().join(', ')}\n`);
        }
        setExit(EXIT.ok);
      } catch (error) {
        setExit(reportFailure(error, opts.json));
      }
    });

  cli
    .command('serve')
    .description('Serve the REST + WebSocket API (and the editor, when built) with a persistent queue.')
    .option('--host <address>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', '8188')
    .option('--token <secret>', 'access token every request must carry, 16+ characters (default $SKYLOOM_TOKEN); visible in the process list: prefer --token-file')
    .option('--token-file <file>', 'read the access token from the first line of this file (default $SKYLOOM_TOKEN_FILE)')
    .option('--data-dir <dir>', 'queue database, outputs, uploads and saved workflows', 'skyloom-data')
    .option('--allow-origin <origin>', 'another origin that may use the server, e.g. the editor dev server (repeatable)', collect, [])
    .option('--queue <url>', 'put prompts on BullMQ in Redis (redis://host:port) for `skyloom worker` processes; default the embedded queue')
    .option('--max-pixels <n>', 'admission: most pixels in one frame (default 3840×2160)')
    .option('--max-frames <n>', 'admission: most frames in one video (default 3600)')
    .option('--max-video-seconds <n>', 'admission: longest video in seconds (default 120)')
    .option('--max-work <n>', 'admission: latent tokens × steps per prompt (default 50M)')
    .option('--max-memory <bytes>', 'admission: most memory one node may need, e.g. 24G (default 3/4 of RAM)')
    .option('--max-temp <bytes>', 'admission: most temp disk per prompt, e.g. 50G (default 9/10 of the free space)')
    .option('--max-nodes <n>', 'admission: most nodes in a workflow (default 1000)')
    .option('--max-string <bytes>', 'admission: longest text param (default 64K)')
    .option('--allow-model-paths', 'let API clients name a model by folder path (default: package names from the search paths only)', false)
    .option('--repair', 'when the database is corrupt: move it aside (kept as skyloom.db.corrupt-<time>) and start with a new one holding what could be read', false)
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable; a pack is code: load only what you trust)').argParser(collect).default([]))
    .action(
      async (opts: ServeFlags & { host: string; port: string; token?: string; tokenFile?: string; dataDir: string; allowOrigin: string[]; nodes: string[]; queue?: string }) => {
        const port = Number(opts.port);
        if (!/^\d+$/.test(opts.port) || port > 65535) {
          setExit(reportFailure(new UsageError(`--port must be an integer from 0 to 65535, got "${opts.port}"`), false));
          return;
        }
        try {
          // Loaded here so that run, validate and nodes never load express, ws or SQLite.
          const { serve } = await import('../server/serve.js');
          const registry = await registryWith(opts.nodes);
          const { resolveToken } = await import('../server/security.js');
          const token = resolveToken(opts.token, opts.tokenFile);
          if (opts.token !== undefined) process.stderr.write('warn: --token is visible to every user in the process list; use --token-file or SKYLOOM_TOKEN\n');
          const running = await serve({
            limits: limitsFrom(opts),
            ...(opts.allowModelPaths ? { allowModelPaths: true } : {}),
            ...(opts.repair ? { repair: true } : {}),
            host: opts.host,
            port,
            dataDir: opts.dataDir,
            registry,
            allowedOrigins: opts.allowOrigin,
            ...(token ? { token } : {}),
            ...(opts.queue ? { queue: opts.queue } : {}),
          });
          process.stdout.write(`Skyloom is serving at ${running.url}${token ? ' (token required)' : ''}${opts.queue ? ` (queue ${opts.queue})` : ''}\n`);
          await new Promise<void>((resolve) => {
            let signals = 0;
            const onSignal = (signal: NodeJS.Signals) => {
              // A second signal means "now": the queue is safe in SQLite either way.
              if ((signals += 1) > 1) process.exit(EXIT.interrupted);
              process.stderr.write(`${signal}: stopping (interrupting the running prompt; queued prompts stay queued; again to quit at once)\n`);
              void running.stop().then(resolve);
            };
            process.on('SIGINT', onSignal);
            process.on('SIGTERM', onSignal);
          });
          setExit(EXIT.ok);
        } catch (error) {
          setExit(reportFailure(error, false));
        }
      },
    );

  cli
    .command('worker')
    .description("Run prompts from a server's queue engine (one worker per GPU or machine); outputs go to the shared data dir.")
    .requiredOption('--queue <url>', 'the Redis the server queues on: redis://host:port')
    .option('--data-dir <dir>', "the server's data dir, shared or mounted (outputs must land where the server serves them)", 'skyloom-data')
    .addOption(new Option('--device <device>', 'where models run').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--concurrency <n>', 'prompts at once in this process', '1')
    .option('--id <name>', 'the name shown in history and /api/system (default <host>-<pid>)')
    .option('--lock-ms <ms>', "a job's lock; a killed worker's job is retried elsewhere after about this long", '30000')
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable; a pack is code: load only what you trust)').argParser(collect).default([]))
    .action(async (opts: { queue: string; dataDir: string; device: 'auto' | 'cpu' | 'cuda'; concurrency: string; id?: string; lockMs: string; nodes: string[] }) => {
      const concurrency = Number(opts.concurrency);
      const lockMs = Number(opts.lockMs);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
        setExit(reportFailure(new UsageError(`--concurrency must be an integer from 1 to 64, got "${opts.concurrency}"`), false));
        return;
      }
      if (!Number.isInteger(lockMs) || lockMs < 500) {
        setExit(reportFailure(new UsageError(`--lock-ms must be an integer of at least 500, got "${opts.lockMs}"`), false));
        return;
      }
      try {
        const { RemoteWorker } = await import('../server/redis/worker.js');
        const registry = await registryWith(opts.nodes);
        const log = {
          debug() {},
          info: (m: string) => process.stderr.write(`${m}\n`),
          warn: (m: string) => process.stderr.write(`warn: ${m}\n`),
          error: (m: string) => process.stderr.write(`error: ${m}\n`),
        };
        const worker = new RemoteWorker({ url: opts.queue, dataDir: opts.dataDir, registry, device: opts.device, concurrency, lockMs, log, ...(opts.id ? { id: opts.id } : {}) });
        await worker.start();
        process.stdout.write(`Skyloom worker ${worker.id} is taking prompts from ${opts.queue} (${worker.capabilities.join(', ')})\n`);
        await new Promise<void>((resolve) => {
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            if ((signals += 1) > 1) {
              // Abandoned jobs are retried by another worker once their locks expire.
              void worker.stop(true).then(() => process.exit(EXIT.interrupted));
              return;
            }
            process.stderr.write(`${signal}: stopping after the running prompts (again to quit at once; they are then retried elsewhere)\n`);
            void worker.stop().then(resolve);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
        });
        setExit(EXIT.ok);
      } catch (error) {
        setExit(reportFailure(error, false));
      }
    });

  return cli;
}

async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await program((c) => (code = c)).parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are not failures; every other parse problem is a usage error (2).
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    return reportFailure(error, false);
  }
  return code;
}

process.exitCode = await main(process.argv);
