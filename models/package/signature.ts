// Checking a graph's inputs and outputs against a family's roles: names, element types and ranks.
import { ModelLoadError } from '../errors.js';
import type { ComponentManifest } from '../manifest.js';
import type { ValueInfo } from '../runtime/onnx.js';

/** Expected element types and rank of one role. */
export interface RoleSpec {
  types: readonly string[];
  rank: number;
  optional?: boolean;
}

/** The roles of one component. */
export type Signature = { inputs: Record<string, RoleSpec>; outputs: Record<string, RoleSpec> };

/** A float32 role of a rank. */
export const f32 = (rank: number, optional = false): RoleSpec => ({ types: ['float32'], rank, optional });
/** An int64 role of a rank. */
export const i64 = (rank: number): RoleSpec => ({ types: ['int64'], rank });

/** A graph's declared inputs and outputs (from a session or from {@link scanOnnx}). */
export interface GraphIo {
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

function describeValues(values: readonly ValueInfo[]): string {
  return values.map((v) => v.name).join(', ');
}

/**
 * Check a graph against a component's role → tensor-name map: every role's tensor exists with an
 * accepted element type and rank, and (unless `extraInputs` accepts it) every input is fed by a role.
 * @throws ModelLoadError SIGNATURE_MISMATCH naming the file.
 */
export function checkSignature(
  relativeFile: string,
  path: string,
  io: GraphIo,
  component: ComponentManifest,
  signature: Signature,
  extraInputs: (name: string) => boolean = () => false,
): void {
  const mismatch = (message: string) => new ModelLoadError('SIGNATURE_MISMATCH', path, message);
  for (const side of ['inputs', 'outputs'] as const) {
    const values = side === 'inputs' ? io.inputs : io.outputs;
    const noun = side === 'inputs' ? 'input' : 'output';
    // A role this runtime does not know would be mapped and then never fed (a package made for a
    // newer Skyloom): refuse it here, not with ONNX Runtime's "input missing" at the first run.
    for (const role of Object.keys(component[side])) {
      if (signature[side][role] === undefined) {
        throw mismatch(
          `${relativeFile}: skyloom.json maps ${noun} role "${role}", which this version of Skyloom does not know (roles: ${Object.keys(signature[side]).join(', ')}); the package may need a newer Skyloom`,
        );
      }
    }
    for (const [role, spec] of Object.entries(signature[side])) {
      const tensorName = component[side][role];
      if (tensorName === undefined) {
        if (spec.optional === true) continue;
        throw mismatch(`${relativeFile}: skyloom.json maps no ${noun} for role "${role}"`);
      }
      const info = values.find((v) => v.name === tensorName);
      if (info === undefined) {
        throw mismatch(`${relativeFile} has no ${noun} "${tensorName}" (${side}: ${describeValues(values)})`);
      }
      if (info.type === undefined || !spec.types.includes(info.type)) {
        throw mismatch(`${relativeFile} ${noun} "${tensorName}" is ${info.type ?? 'not a tensor'} but must be ${spec.types.join(' or ')}`);
      }
      if (info.shape.length !== spec.rank) {
        throw mismatch(`${relativeFile} ${noun} "${tensorName}" has rank ${info.shape.length} [${info.shape.join(', ')}] but must have rank ${spec.rank}`);
      }
    }
  }
  const fed = new Set(Object.values(component.inputs));
  for (const input of io.inputs) {
    if (!fed.has(input.name) && !extraInputs(input.name)) {
      throw mismatch(`${relativeFile} has input "${input.name}" that no role in skyloom.json feeds`);
    }
  }
}
