// The registry of model families: a family is one file in this folder, listed here by its name.
import { ModelLoadError } from '../errors.js';
import type { ModelFamily } from './family.js';
import { skyloomFamily } from './skyloom.js';
import { stableDiffusionFamily } from './stable-diffusion.js';
import { wanFamily } from './wan.js';

/** Every family, by the name skyloom.json's `family` field uses. */
export const FAMILIES: ReadonlyMap<string, ModelFamily> = new Map([skyloomFamily, stableDiffusionFamily, wanFamily].map((f) => [f.name, f]));

/**
 * The family of a name.
 * @throws ModelLoadError MANIFEST_INVALID naming `where` and listing the known families.
 */
export function familyNamed(name: string, where: string): ModelFamily {
  const family = FAMILIES.get(name);
  if (family !== undefined) return family;
  throw new ModelLoadError('MANIFEST_INVALID', where, `${where}: unknown model family "${name}". Should be one of: ${[...FAMILIES.keys()].join(', ')}`);
}
