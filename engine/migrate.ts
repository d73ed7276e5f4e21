// Forward migrations of the workflow format: older files are upgraded, never rejected silently.

import { WorkflowValidationError } from './errors.js';
import { WORKFLOW_FORMAT, WORKFLOW_VERSION, pointer, type Link, type WorkflowNode } from './workflow.js';

type Json = Record<string, unknown>;

/**
 * Version 0 was the draft shape of the first prototype: nodes keyed by id in an object, the type
 * under `class`, params under `widgets`, links as `[sourceId, outputName]` pairs, `pos` for position.
 */
function v0ToV1(doc: Json): Json {
  const nodesIn = (doc.nodes ?? {}) as Record<string, Json>;
  const nodes: WorkflowNode[] = Object.entries(nodesIn).map(([id, n]) => {
    const inputs: Record<string, Link> = {};
    for (const [name, link] of Object.entries((n.links ?? {}) as Record<string, unknown>)) {
      if (Array.isArray(link) && link.length === 2) inputs[name] = { node: String(link[0]), output: String(link[1]) };
      else inputs[name] = link as Link; // left for the schema to report
    }
    const node: WorkflowNode = { id, type: n.class as string };
    if (n.widgets !== undefined) node.params = n.widgets as WorkflowNode['params'];
    if (Object.keys(inputs).length > 0) node.inputs = inputs;
    if (n.pos !== undefined) node.position = n.pos as [number, number];
    return node;
  });
  const out: Json = { format: WORKFLOW_FORMAT, version: 1, nodes };
  if (doc.title !== undefined) out.title = doc.title;
  return out;
}

/** Version 2 added node modes (bypass, mute); a version 1 file has none, so only the number changes. */
function v1ToV2(doc: Json): Json {
  return { ...doc, version: 2 };
}

/** Version 3 added node colours and collapse (editor state); a version 2 file has neither, so only the number changes. */
function v2ToV3(doc: Json): Json {
  return { ...doc, version: 3 };
}

const MIGRATIONS: Record<number, (doc: Json) => Json> = { 0: v0ToV1, 1: v1ToV2, 2: v2ToV3 };

/** Which version a document declares; v0 drafts wrote `"skyloom": "0"` instead of format/version. */
function declaredVersion(doc: Json): unknown {
  if (doc.format === undefined && doc.skyloom === '0') return 0;
  return doc.version;
}

/**
 * Upgrades a parsed workflow document to the current version.
 * @returns the document at the current version, and the versions it went through
 * @throws WorkflowValidationError when the format or version is not one this engine reads
 */
export function migrateWorkflow(doc: Json): { doc: Json; migratedFrom?: number } {
  let version = declaredVersion(doc);
  if (doc.format !== undefined && doc.format !== WORKFLOW_FORMAT) {
    throw new WorkflowValidationError([
      {
        code: 'unsupported_format',
        pointer: pointer('format'),
        message: `This is not a Skyloom workflow: format is ${JSON.stringify(doc.format)}, expected "${WORKFLOW_FORMAT}"`,
      },
    ]);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0 || version > WORKFLOW_VERSION) {
    throw new WorkflowValidationError([
      {
        code: 'unsupported_version',
        pointer: pointer('version'),
        message:
          typeof version === 'number' && version > WORKFLOW_VERSION
            ? `Workflow format version ${version} is newer than this Skyloom reads (up to ${WORKFLOW_VERSION}); upgrade Skyloom`
            : `Workflow format version ${JSON.stringify(version)} is not supported (0 to ${WORKFLOW_VERSION})`,
      },
    ]);
  }
  const from = version;
  let current = doc;
  while (version < WORKFLOW_VERSION) {
    current = MIGRATIONS[version](current);
    version += 1;
  }
  return from === WORKFLOW_VERSION ? { doc: current } : { doc: current, migratedFrom: from };
}
