// The model family: load-model, which finds a model package and opens its ONNX sessions.

import { defineNode } from '../engine/index.js';
import { listModels } from '../models/package.js';
import { DEVICES } from '../models/runtime/onnx.js';
import { VideoModel } from '../models/video-model.js';
import { deviceFor, modelHost } from './services.js';
import { ModelValue } from './values.js';

export const DEFAULT_MODEL = 'skyloom-tiny';

export const loadModelNode = defineNode({
  type: 'load-model',
  version: 1,
  aliases: ['checkpoint', 'ckpt', 'load checkpoint', 'model loader'],
  category: 'model',
  description: 'Loads a model package (text encoder, DiT, VAE) by name or folder, checking every file against its sha256.',
  params: {
    name: { kind: 'string', default: DEFAULT_MODEL, description: 'A package name from `skyloom models`, or a folder path.' },
    device: { kind: 'enum', default: 'auto', choices: DEVICES, description: 'auto uses CUDA when it is available and falls back to the CPU.' },
    threads: { kind: 'int', default: 0, min: 0, max: 256, description: 'CPU threads per session; 0 lets ONNX Runtime choose.' },
  },
  outputs: { model: { type: 'MODEL' } },
  requires: ({ name, device }) => [...(name.includes('/') ? [] : [`model:${name}`]), ...(device === 'cuda' ? ['device:cuda'] : [])],
  check: async ({ name: wanted }, env) => {
    const isPath = /[/\\]/.test(wanted) || wanted.startsWith('.') || wanted.startsWith('~');
    if (isPath && env.confinePaths) {
      // Said the same way whether or not the folder exists: a remote client learns nothing of the server's disk.
      return [
        {
          param: 'name',
          message: `Model "${wanted}" is a folder path; this server takes model package names only (see GET /api/models). Folder paths work from the command line, or on a server started with --allow-model-paths.`,
        },
      ];
    }
    if (isPath || !env.localModels) return [];
    // Where the run will look: the host's search paths (a server's --models, a test's folder), not the process defaults.
    const { searchPaths } = modelHost({ services: env.services ?? {} });
    const installed = await listModels({ searchPaths });
    if (installed.some((m) => m.name === wanted)) return [];
    return [
      {
        param: 'name',
        message:
          `Model "${wanted}" is not installed; installed: ${installed.map((m) => m.name).join(', ') || 'none'}` + (env.confinePaths ? '' : ` (searched ${searchPaths.join(', ')})`),
      },
    ];
  },
  run: async ({ name, device, threads }, ctx) => {
    const host = modelHost(ctx);
    const model = await VideoModel.load(name, {
      device: deviceFor(device, host),
      ...(threads > 0 ? { threads } : {}),
      logger: ctx.log,
      sessions: host.sessions,
      searchPaths: host.searchPaths,
    });
    return { model: new ModelValue(model, model.manifest.name) };
  },
});

export const modelNodes = [loadModelNode];
