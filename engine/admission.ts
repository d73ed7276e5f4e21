// Admission control: a validated workflow's cost, estimated node by node from params and upstream estimates, checked against the operator's limits before it is queued.

import { AdmissionError, WorkflowValidationError, type ValidationIssue } from './errors.js';
import type { NodeServices } from './types.js';
import type { ResolvedNode, ValidatedWorkflow } from './validate.js';
import { pointer } from './workflow.js';

/** The geometry of a VIDEO, IMAGE or LATENT value, as far as an estimate can tell before running. */
export interface MediaEstimate {
  kind: 'media';
  width: number;
  height: number;
  /** Frames (1 for an image). */
  frames: number;
  fps?: number;
  /**
   * The frame count is a bound or a rounding, not what the run will make (after a trim, an fps
   * change, or seconds a model rounds in a way the estimate does not know): checks that need the
   * exact count skip it.
   */
  approximate?: true;
}

/**
 * What a MODEL value tells the nodes downstream about cost: how its latents compress pixels and
 * frames, and how much memory its DiT's attention needs per token pair. A model family supplies
 * its own; {@link DEFAULT_MODEL_COSTS} otherwise.
 */
export interface ModelEstimate {
  kind: 'model';
  name: string;
  spatialCompression: number;
  temporalCompression: number;
  /** Patch size [t, h, w] of the DiT. */
  patchSize: readonly [number, number, number];
  /** Bytes of attention scores held per token pair (one head, fp32: 4). */
  attentionBytesPerPair: number;
  /**
   * The DiT's native window when it samples longer latents window by window (a model that takes
   * known frames, models/windowed.ts): latent frames per window, and the latent frames each later
   * window is held to. Without it a sampler attends over the whole latent in one call.
   */
  window?: { latentFrames: number; context: number };
}

/** An estimated value on an output: a number or string (primitives), a media geometry or a model's cost factors. */
export type EstimatedValue = number | string | boolean | MediaEstimate | ModelEstimate;

/** The measures a limit applies to; each node's costs are summed (work, temp) or maxed (the rest) over the prompt. */
export type CostMeasure = 'pixels' | 'frames' | 'videoSeconds' | 'work' | 'memoryBytes' | 'tempBytes' | 'metadataBytes';

/** One cost of one node, and the param that drives it (named in the refusal). */
export interface Cost {
  measure: CostMeasure;
  amount: number;
  /** The param (or input) a user changes to bring it down. */
  param?: string;
  /** What is counted, for the message: "4096×4096 per frame". */
  detail: string;
}

export interface NodeEstimate {
  /** Estimated values of the node's outputs, by output name; absent when not known before running. */
  outputs?: Record<string, EstimatedValue | undefined>;
  costs?: Cost[];
  /**
   * Inputs and params that cannot work together, found before running: what the node would throw
   * at run time, after everything upstream of it had run (a transition's context longer than the
   * clip made for it). Only for things certain from the estimates (exact frame counts).
   */
  problems?: EstimateProblem[];
}

/** An input problem an estimate found: the sentence the node would throw, and the param (or input) to change. */
export interface EstimateProblem {
  message: string;
  param?: string;
}

/** What an estimate sees besides params and inputs. */
export interface EstimateEnv {
  /** The size of the workflow as JSON in UTF-8 (output nodes embed it in their files). */
  workflowBytes: number;
  /** The services the run will get (model search paths, ...); absent, the process defaults. */
  services?: NodeServices;
}

/**
 * A node family's cost estimate: from the node's params (linked params replaced by their upstream
 * estimate, when known) and the estimated values on its inputs. Unknown things are `undefined`;
 * an estimate checks what it can and leaves the rest to run time.
 */
export type Estimator = (params: Record<string, unknown>, inputs: Record<string, EstimatedValue | undefined>, env: EstimateEnv) => NodeEstimate | Promise<NodeEstimate>;

/** Operator limits; every field has a default that fits a single machine. */
export interface AdmissionLimits {
  /** Most pixels in one frame anywhere in the graph. */
  maxPixels: number;
  /** Most frames in one video value. */
  maxFrames: number;
  /** Longest video value, in seconds. */
  maxVideoSeconds: number;
  /** Compute budget of one prompt: latent tokens × steps (× 2 with guidance), summed over samplers. */
  maxWork: number;
  /** Most memory one node may need at once. */
  maxMemoryBytes: number;
  /** Most temporary disk one prompt may write (frame stores). */
  maxTempBytes: number;
  /** Most nodes in one workflow. */
  maxNodes: number;
  /** Longest string param, in UTF-8 bytes. */
  maxStringBytes: number;
  /** Largest metadata an output file can embed (ffmpeg passes each tag as one argument: 128 KiB). */
  maxMetadataBytes: number;
}

/** The option or flag that sets each limit, for messages. */
export const LIMIT_FLAGS: Record<keyof AdmissionLimits, string> = {
  maxPixels: '--max-pixels',
  maxFrames: '--max-frames',
  maxVideoSeconds: '--max-video-seconds',
  maxWork: '--max-work',
  maxMemoryBytes: '--max-memory',
  maxTempBytes: '--max-temp',
  maxNodes: '--max-nodes',
  maxStringBytes: '--max-string',
  maxMetadataBytes: '(fixed: the longest argument ffmpeg takes)',
};

const MEASURE_LIMIT: Record<CostMeasure, keyof AdmissionLimits> = {
  pixels: 'maxPixels',
  frames: 'maxFrames',
  videoSeconds: 'maxVideoSeconds',
  work: 'maxWork',
  memoryBytes: 'maxMemoryBytes',
  tempBytes: 'maxTempBytes',
  metadataBytes: 'maxMetadataBytes',
};

// Summed over the prompt; the others are per node value.
const SUMMED: ReadonlySet<CostMeasure> = new Set(['work', 'tempBytes']);

/** Latent compression and attention cost of a model no family described (Wan-like: 8× space, 4× time, 1×2×2 patches). */
export const DEFAULT_MODEL_COSTS: Omit<ModelEstimate, 'kind' | 'name'> = {
  spatialCompression: 8,
  temporalCompression: 4,
  patchSize: [1, 2, 2],
  attentionBytesPerPair: 4,
};

/**
 * Default limits for a machine with `memoryBytes` of RAM and `freeTempBytes` of free disk where temp files go.
 * Pixels allow 3840×2160 (the largest resize preset); frames allow 60 s at 60 fps; work allows a
 * 5 s 720p clip at 50 steps with guidance several times over.
 */
export function defaultLimits(memoryBytes: number, freeTempBytes: number): AdmissionLimits {
  return {
    maxPixels: 3840 * 2160,
    maxFrames: 3600,
    maxVideoSeconds: 120,
    maxWork: 50_000_000,
    maxMemoryBytes: Math.floor(memoryBytes * 0.75),
    maxTempBytes: Math.floor(freeTempBytes * 0.9),
    maxNodes: 1000,
    maxStringBytes: 64 * 1024,
    maxMetadataBytes: 128 * 1024 - 1 - 'workflow='.length,
  };
}

/** Latent tokens the DiT sees for a media geometry. */
export function latentTokens(media: MediaEstimate, model: Omit<ModelEstimate, 'kind' | 'name'>): number {
  const [pt, ph, pw] = model.patchSize;
  const t = Math.ceil(media.frames / model.temporalCompression / pt);
  const h = Math.ceil(media.height / model.spatialCompression / ph);
  const w = Math.ceil(media.width / model.spatialCompression / pw);
  return t * h * w;
}

export function isMedia(v: EstimatedValue | undefined): v is MediaEstimate {
  return typeof v === 'object' && v !== null && v.kind === 'media';
}

export function isModel(v: EstimatedValue | undefined): v is ModelEstimate {
  return typeof v === 'object' && v !== null && v.kind === 'model';
}

/** The costs every media value carries by itself: pixels per frame, frames, seconds. */
export function mediaCosts(media: MediaEstimate | undefined, param: string | undefined): Cost[] {
  if (!media) return [];
  const at = param === undefined ? {} : { param };
  const costs: Cost[] = [
    { measure: 'pixels', amount: media.width * media.height, detail: `${media.width}×${media.height} per frame`, ...at },
    { measure: 'frames', amount: media.frames, detail: `${media.frames} frames`, ...at },
  ];
  if (media.fps) costs.push({ measure: 'videoSeconds', amount: media.frames / media.fps, detail: `${media.frames} frames at ${media.fps} fps`, ...at });
  return costs;
}

/** Bytes of RGB24 frames for a media geometry. */
export function rgbBytes(media: MediaEstimate): number {
  return media.width * media.height * 3 * media.frames;
}

function topological(nodes: Map<string, ResolvedNode>): ResolvedNode[] {
  const order: ResolvedNode[] = [];
  const indegree = new Map<string, number>();
  const users = new Map<string, string[]>();
  for (const n of nodes.values()) {
    const sources = new Set(
      Object.values(n.links)
        .map((l) => l.node)
        .filter((id) => nodes.has(id)),
    );
    indegree.set(n.id, sources.size);
    for (const s of sources) users.set(s, [...(users.get(s) ?? []), n.id]);
  }
  const ready = [...nodes.values()].filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  while (ready.length > 0) {
    const id = ready.shift()!;
    order.push(nodes.get(id)!);
    for (const u of users.get(id) ?? []) {
      indegree.set(u, indegree.get(u)! - 1);
      if (indegree.get(u) === 0) ready.push(u);
    }
  }
  return order;
}

const readable = (n: number) =>
  n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : String(Math.round(n));
const BYTES: ReadonlySet<CostMeasure> = new Set(['memoryBytes', 'tempBytes', 'metadataBytes']);
const show = (bytes: boolean, n: number) => (bytes ? readable(n) : Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(1));

/** One node's estimated costs, with where they apply. */
interface NodeCosts {
  node: ResolvedNode;
  costs: Cost[];
}

/**
 * Runs every node family's estimate in dependency order, each seeing its upstream estimates.
 * @returns each node's costs, and the input problems found, as validation issues (`input_mismatch`)
 */
async function estimateNodes(validated: ValidatedWorkflow, services: NodeServices | undefined): Promise<{ nodes: NodeCosts[]; problems: ValidationIssue[] }> {
  const env: EstimateEnv = { workflowBytes: Buffer.byteLength(JSON.stringify(validated.workflow)), ...(services ? { services } : {}) };
  const values = new Map<string, Record<string, EstimatedValue | undefined>>();
  const nodes: NodeCosts[] = [];
  const problems: ValidationIssue[] = [];
  for (const node of topological(validated.nodes)) {
    const estimate = node.definition.estimate;
    if (!estimate) continue;
    const inputs: Record<string, EstimatedValue | undefined> = {};
    const params: Record<string, unknown> = { ...node.params };
    for (const [name, link] of Object.entries(node.links)) {
      const v = values.get(link.node)?.[link.output];
      if (Object.hasOwn(node.definition.params ?? {}, name)) params[name] = v;
      else inputs[name] = v;
    }
    const result = await estimate(params, inputs, env);
    values.set(node.id, result.outputs ?? {});
    nodes.push({ node, costs: result.costs ?? [] });
    for (const problem of result.problems ?? []) {
      problems.push({
        code: 'input_mismatch',
        nodeId: node.id,
        pointer: paramPointer(node, problem.param),
        message: problem.message.charAt(0).toUpperCase() + problem.message.slice(1),
      });
    }
  }
  return { nodes, problems };
}

/** The JSON pointer of a node's param or input (a linked param is an input), or of the node. */
function paramPointer(node: ResolvedNode, param: string | undefined): string {
  if (param === undefined) return pointer('nodes', node.index);
  const isInput = Object.hasOwn(node.links, param) || !Object.hasOwn(node.definition.params ?? {}, param);
  return pointer('nodes', node.index, isInput ? 'inputs' : 'params', param);
}

/**
 * Checks what the estimates can tell before anything runs: inputs and params that cannot work
 * together once upstream nodes have made their values (a loop's context longer than the clip
 * generated for it). `skyloom run` and `skyloom validate` call it; {@link admit} does too.
 * @throws WorkflowValidationError (`input_mismatch`) naming each node, its param (JSON pointer) and the problem
 */
export async function preflight(validated: ValidatedWorkflow, options: { services?: NodeServices } = {}): Promise<void> {
  const { problems } = await estimateNodes(validated, options.services);
  if (problems.length > 0) throw new WorkflowValidationError(problems);
}

/**
 * Estimates a validated workflow's cost and checks it against `limits`, before anything is queued
 * or allocated: node count, string params, then each node family's estimate (with `options.services`,
 * the host's, so a model is looked up where the run will look).
 * @returns the prompt's totals per measure (for logs and tests)
 * @throws WorkflowValidationError (`input_mismatch`) for input problems the estimates found ({@link preflight}), before any limit is checked
 * @throws AdmissionError (`over_limit`) listing every limit crossed, each naming the node, the param (JSON pointer) and the limit with the option that sets it
 */
export async function admit(validated: ValidatedWorkflow, limits: AdmissionLimits, options: { services?: NodeServices } = {}): Promise<Record<CostMeasure, number>> {
  const issues: ValidationIssue[] = [];
  const over = (limit: keyof AdmissionLimits, nodeId: string | undefined, at: string, what: string, amount: number, bytes: boolean) => {
    const unit = limit === 'maxVideoSeconds' ? ' s' : '';
    const issue: ValidationIssue = {
      code: 'over_limit',
      pointer: at,
      message: `${what} is ${show(bytes, amount)}${unit}, over this server's limit of ${show(bytes, limits[limit])}${unit} (${limit}, ${LIMIT_FLAGS[limit]})`,
    };
    if (nodeId !== undefined) issue.nodeId = nodeId;
    issues.push(issue);
  };
  if (validated.workflow.nodes.length > limits.maxNodes) {
    over('maxNodes', undefined, '/nodes', 'The node count', validated.workflow.nodes.length, false);
    throw new AdmissionError(issues);
  }
  for (const node of validated.nodes.values()) {
    for (const [name, value] of Object.entries(node.params)) {
      if (typeof value !== 'string') continue;
      const bytes = Buffer.byteLength(value);
      if (bytes > limits.maxStringBytes) over('maxStringBytes', node.id, pointer('nodes', node.index, 'params', name), `Param "${name}" (text)`, bytes, true);
    }
  }

  const { nodes, problems } = await estimateNodes(validated, options.services);
  if (problems.length > 0) throw new WorkflowValidationError(problems);
  const totals = Object.fromEntries(Object.keys(MEASURE_LIMIT).map((m) => [m, 0])) as Record<CostMeasure, number>;
  const summedBy = new Map<CostMeasure, { nodeId: string; at: string; detail: string; amount: number }>();
  for (const { node, costs } of nodes) {
    for (const cost of costs) {
      if (!Number.isFinite(cost.amount)) continue;
      const limit = MEASURE_LIMIT[cost.measure];
      const at = paramPointer(node, cost.param);
      if (SUMMED.has(cost.measure)) {
        totals[cost.measure] += cost.amount;
        const biggest = summedBy.get(cost.measure);
        if (!biggest || cost.amount > biggest.amount) summedBy.set(cost.measure, { nodeId: node.id, at, detail: cost.detail, amount: cost.amount });
        continue;
      }
      totals[cost.measure] = Math.max(totals[cost.measure], cost.amount);
      if (cost.amount > limits[limit]) over(limit, node.id, at, cost.detail, cost.amount, BYTES.has(cost.measure));
    }
  }
  for (const [measure, biggest] of summedBy) {
    const limit = MEASURE_LIMIT[measure];
    if (totals[measure] > limits[limit]) {
      // Named after the node that costs the most: the one to change first.
      over(
        limit,
        biggest.nodeId,
        biggest.at,
        `The prompt's ${measure === 'work' ? 'work (latent tokens × steps)' : 'temporary disk'} (most of it ${biggest.detail})`,
        totals[measure],
        BYTES.has(measure),
      );
    }
  }
  if (issues.length > 0) throw new AdmissionError(issues);
  return totals;
}
