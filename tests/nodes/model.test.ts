// load-model's check and its admission estimate look where the run will look: the host's model search paths, not the process defaults.

import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { admit, AdmissionError, defaultLimits, Executor, WorkflowValidationError, type Workflow } from '../../engine/index.js';
import { createRegistry } from '../../nodes/index.js';
import { createModelHost } from '../../nodes/services.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

const hostModels = mkdtempSync(join(tmpdir(), 'skyloom-host-models-'));

beforeAll(async () => {
  // Only in the host's folder: neither models/packages, ~/.skyloom/models nor $SKYLOOM_MODELS has it.
  await writeSkyloomPackage(join(hostModels, 'host-only'), { name: 'host-only' });
});

const loading = (name: string): Workflow => ({ format: 'skyloom-workflow', version: 3, nodes: [{ id: 'model', type: 'load-model', params: { name } }] });

async function issues(executor: Executor, name: string): Promise<string[]> {
  try {
    await executor.validate(loading(name));
    return [];
  } catch (error) {
    if (!(error instanceof WorkflowValidationError)) throw error;
    return error.issues.map((i) => `${i.pointer}: ${i.message}`);
  }
}

describe("load-model's check", () => {
  const host = () => new Executor(createRegistry(), { services: { models: createModelHost({ searchPaths: [hostModels] }) } });

  it("finds a package that is only in the host's search paths", async () => {
    expect(await issues(host(), 'host-only')).toEqual([]);
  });

  it("refuses a package the host's search paths lack, naming those paths, even when the default paths have it", async () => {
    expect(await issues(host(), 'skyloom-tiny')).toEqual([`/nodes/0/params/name: Model "skyloom-tiny" is not installed; installed: host-only (searched ${hostModels})`]);
  });

  it('without host services it looks in the default paths', async () => {
    const plain = new Executor(createRegistry());
    expect(await issues(plain, 'skyloom-tiny')).toEqual([]);
    expect((await issues(plain, 'host-only'))[0]).toMatch(/^\/nodes\/0\/params\/name: Model "host-only" is not installed; installed: .*skyloom-tiny/);
  });
});

describe("load-model's admission estimate", () => {
  it("reads the model's costs from the host's search paths (its text encoder's bytes against the memory limit)", async () => {
    const wf = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../workflows/text-to-video.json'), 'utf8')) as Workflow;
    wf.nodes.find((n) => n.id === 'model')!.params = { name: 'host-only' };
    const executor = new Executor(createRegistry(), { services: { models: createModelHost({ searchPaths: [hostModels] }) } });
    const validated = await executor.validate(wf);
    const bytes = statSync(join(hostModels, 'host-only/text_encoder/model.onnx')).size;
    const limits = { ...defaultLimits(64 * 1024 ** 3, 1024 ** 4), maxMemoryBytes: bytes - 1 };
    const refused = await admit(validated, limits, { services: executor.services }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(AdmissionError);
    expect((refused as AdmissionError).issues.map((i) => i.nodeId).sort()).toEqual(['negative', 'positive']);
    // Looked up in the default paths, the package is not found: nothing is known of its text encoder.
    await expect(admit(validated, limits)).resolves.toBeDefined();
  });
});
