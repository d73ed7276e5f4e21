// load-model's check looks where the run will look: the host's model search paths, not the process defaults.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Executor, WorkflowValidationError, type Workflow } from '../../engine/index.js';
import { createRegistry } from '../../nodes/index.js';
import { createModelHost } from '../../nodes/services.js';
import { writeSkyloomPackage } from '../models/fixtures/tiny-packages.js';

const hostModels = mkdtempSync(join(tmpdir(), 'skyloom-host-models-'));

beforeAll(async () => {
  // Only in the host's folder: neither models/packages, ~/.skyloom/models nor $SKYLOOM_MODELS has it.
  await writeSkyloomPackage(join(hostModels, 'host-only'), { name: 'host-only' });
});

const loading = (name: string): Workflow => ({ format: 'skyloom-workflow', version: 2, nodes: [{ id: 'model', type: 'load-model', params: { name } }] });

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
