// Where the installed package lives, so shipped files (schema, workflows) are found from src or dist.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError } from './errors.js';

let root: string | undefined;

/**
 * The folder holding Skyloom's package.json.
 * @throws EngineError (`package_root_not_found`) when the install is incomplete
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'workflows'))) {
    const up = dirname(dir);
    if (up === dir) throw new EngineError('package_root_not_found', `Cannot find the Skyloom package root (package.json and workflows/) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return dir;
}
