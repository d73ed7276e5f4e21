// The workflow file, version 3: the one shape shared by the editor, the CLI and the API — its JSON Schema and its type from one source.

import { Type, type Static } from '@sinclair/typebox';

export const WORKFLOW_FORMAT = 'skyloom-workflow';
export const WORKFLOW_VERSION = 3;

const NodeId = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$', maxLength: 128 });

const LinkSchema = Type.Object(
  { node: NodeId, output: Type.String({ minLength: 1 }) },
  { additionalProperties: false, description: 'A link to the named output of another node.' },
);

// One `type` list rather than anyOf, so a bad value gets one error ("must be string,number,boolean").
const ParamValueSchema = Type.Unsafe<string | number | boolean>({ type: ['string', 'number', 'boolean'] });

/**
 * How a node takes part in a run (version 2). Absent: it runs. `bypass`: it does not run and each
 * output passes on the value of its first linked input of the same socket type. `mute`: it does
 * not run, and neither does anything that needs it.
 */
// One enum rather than a union of literals, so a bad value gets one error ("must be equal to one of the allowed values").
const NodeModeSchema = Type.Unsafe<'bypass' | 'mute'>({
  enum: ['bypass', 'mute'],
  description: 'bypass: outputs pass on the first linked input of the same socket type; mute: neither it nor what needs it runs.',
});

const WorkflowNodeSchema = Type.Object(
  {
    id: NodeId,
    type: Type.String({ minLength: 1 }),
    typeVersion: Type.Optional(Type.Integer({ minimum: 1 })),
    title: Type.Optional(Type.String()),
    params: Type.Optional(Type.Record(Type.String(), ParamValueSchema)),
    /** Links into this node, by input name (or by param name, for a param fed from a link). */
    inputs: Type.Optional(Type.Record(Type.String(), LinkSchema)),
    position: Type.Optional(Type.Tuple([Type.Number(), Type.Number()])),
    mode: Type.Optional(NodeModeSchema),
    /** Editor state (version 3): the node is drawn as its title bar only. Runs ignore it. */
    collapsed: Type.Optional(Type.Boolean({ description: 'Drawn as its title bar only (editor state; runs ignore it).' })),
    /** Editor state (version 3): the colour of its title bar and border. Runs ignore it. */
    color: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$', description: 'Title bar and border colour, #rrggbb (editor state; runs ignore it).' })),
  },
  { additionalProperties: false },
);

const WorkflowGroupSchema = Type.Object({ title: Type.String(), nodes: Type.Array(NodeId), color: Type.Optional(Type.String()) }, { additionalProperties: false });

const WorkflowModelRefSchema = Type.Object(
  { name: Type.String({ minLength: 1 }), version: Type.Optional(Type.String()), sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })) },
  { additionalProperties: false },
);

/**
 * The workflow format's JSON Schema. workflows/workflow.schema.json is this, written by
 * `npm run schema` (a test checks the committed file is current).
 */
export const WorkflowSchema = Type.Object(
  {
    format: Type.Literal(WORKFLOW_FORMAT),
    version: Type.Literal(WORKFLOW_VERSION),
    title: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    nodes: Type.Array(WorkflowNodeSchema),
    groups: Type.Optional(Type.Array(WorkflowGroupSchema)),
    models: Type.Optional(Type.Array(WorkflowModelRefSchema)),
    extra: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form data kept by editors (viewport, notes).' })),
  },
  {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://github.com/skyloom/skyloom/workflows/workflow.schema.json',
    title: 'Skyloom workflow',
    description: 'One format for the editor, the CLI and the API. Version 3 (older files are migrated: version 1 lacks node modes, version 2 node colours and collapse).',
    additionalProperties: false,
  },
);

/** A link to the named output of another node. */
export type Link = Static<typeof LinkSchema>;
export type ParamValue = Static<typeof ParamValueSchema>;
export type NodeMode = Static<typeof NodeModeSchema>;
export type WorkflowNode = Static<typeof WorkflowNodeSchema>;
export type WorkflowGroup = Static<typeof WorkflowGroupSchema>;
export type WorkflowModelRef = Static<typeof WorkflowModelRefSchema>;
export type Workflow = Static<typeof WorkflowSchema>;

/** Escapes one segment of a JSON pointer (RFC 6901). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A JSON pointer (RFC 6901) from its segments: `pointer('nodes', 0, 'id')` is `/nodes/0/id`. */
export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => `/${pointerSegment(s)}`).join('');
}
