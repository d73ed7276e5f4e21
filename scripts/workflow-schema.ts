// Writes workflows/workflow.schema.json from the workflow format's one source (engine/workflow.ts); `--check` only compares.

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { WorkflowSchema } from '../engine/workflow.js';

const file = join(resolve(import.meta.dirname, '..'), 'workflows', 'workflow.schema.json');
const generated: unknown = JSON.parse(JSON.stringify(WorkflowSchema));

if (process.argv.includes('--check')) {
  const committed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isDeepStrictEqual(committed, generated)) {
    process.stderr.write(`${file} is out of date with engine/workflow.ts: run npm run schema\n`);
    process.exit(1);
  }
} else {
  writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`);
  process.stdout.write(`wrote ${file}\n`);
}
