#!/usr/bin/env node
// The `skyloom` command: run, validate and list what the engine knows, without a screen.

import { Command, CommanderError, Option } from 'commander';
import { join } from 'node:path';
import { loadNodePack, packageRoot, validateWorkflow, type NodeRegistry } from '../engine/index.js';
import { listModels, modelSearchPaths } from '../models/package.js';
import { createRegistry } from '../nodes/index.js';
import { EXIT, readWorkflowFile, reportFailure, runCommand, UsageError } from './cli-run.js';

const collect = (value: string, previous: string[]) => [...previous, value];

async function registryWith(packs: string[]): Promise<NodeRegistry> {
  const registry = createRegistry();
  for (const pack of packs) await loadNodePack(registry, pack);
  return registry;
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
    .addOption(new Option('--aspect <ratio>', 'aspect ratio').choices(['1:1', '16:9', '9:16']).default('1:1'))
    .option('--seconds <s>', 'length in seconds', '2')
    .option('--steps <n>', 'sampling steps', '20')
    .option('--model <name>', 'model package', 'skyloom-tiny')
    .option('--out <dir>', 'where output files go', 'output')
    .option('--json', 'print newline-delimited JSON events on stdout', false)
    .action(async (prompt: string, opts: { seed: string; aspect: string; seconds: string; steps: string; model: string; out: string; json: boolean }) => {
      const set = [
        `prompt.text=${prompt}`,
        `sampler.seed=${opts.seed}`,
        `sampler.steps=${opts.steps}`,
        `latent.aspect=${opts.aspect}`,
        `latent.seconds=${opts.seconds}`,
        `model.name=${opts.model}`,
      ];
      const workflow = join(packageRoot(), 'workflows', 'text-to-video.json');
      setExit(await runCommand(workflow, createRegistry(), { set, out: opts.out, json: opts.json, targets: [] }));
    });

  cli
    .command('models')
    .description('List the installed model packages and where they are looked for.')
    .option('--json', 'print the list as JSON', false)
    .action(async (opts: { json: boolean }) => {
      const models = await listModels();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ searchPaths: modelSearchPaths(), models }, null, 2)}\n`);
      } else {
        for (const m of models) {
          process.stdout.write(`${m.name.padEnd(20)} ${(m.version ?? '').padEnd(8)} ${m.kind.padEnd(17)} ${m.dir}\n`);
          if (m.description) process.stdout.write(`${' '.repeat(21)}${m.description}\n`);
        }
        if (models.length === 0) process.stdout.write('No models installed.\n');
        process.stdout.write(`Searched: ${modelSearchPaths().join(', ')}\n`);
      }
      setExit(EXIT.ok);
    });

  cli
    .command('serve')
    .description('Serve the REST + WebSocket API (and the editor, when built) with a persistent queue.')
    .option('--host <address>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', '8188')
    .option('--token <secret>', 'access token every request must carry (default $SKYLOOM_TOKEN)')
    .option('--data-dir <dir>', 'queue database, outputs, uploads and saved workflows', 'skyloom-data')
    .option('--allow-origin <origin>', 'another origin that may use the server, e.g. the editor dev server (repeatable)', collect, [])
    .option('--queue <url>', 'put prompts on BullMQ in Redis (redis://host:port) for `skyloom worker` processes; default the embedded queue')
    .addOption(new Option('--nodes <module>', 'load a node pack (repeatable; a pack is code: load only what you trust)').argParser(collect).default([]))
    .action(async (opts: { host: string; port: string; token?: string; dataDir: string; allowOrigin: string[]; nodes: string[]; queue?: string }) => {
      const port = Number(opts.port);
      if (!/^\d+$/.test(opts.port) || port > 65535) {
        setExit(reportFailure(new UsageError(`--port must be an integer from 0 to 65535, got "${opts.port}"`), false));
        return;
      }
      try {
        // Loaded here so that run, validate and nodes never load express, ws or SQLite.
        const { serve } = await import('../server/serve.js');
        const registry = await registryWith(opts.nodes);
        const token = opts.token ?? (process.env.SKYLOOM_TOKEN || undefined);
        const running = await serve({
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
    });

  cli
    .command('worker')
    .description('Run prompts from a server\'s queue engine (one worker per GPU or machine); outputs go to the shared data dir.')
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
