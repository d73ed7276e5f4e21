// Reading an .onnx graph's signature and operator types without creating a session (no weights loaded).
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { ModelLoadError } from '../errors.js';
import type { ValueInfo } from '../runtime/onnx.js';

const { onnx } = onnxProto;

// TensorProto.DataType → the element names ONNX Runtime's metadata uses.
const ELEM_NAMES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

/** One operator of a graph. */
export interface ScannedNode {
  /** '' for the default ONNX domain, e.g. 'com.microsoft' for contrib ops. */
  domain: string;
  op: string;
  inputs: readonly string[];
}

/** What a graph declares, read from its protobuf. */
export interface GraphScan {
  path: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: ScannedNode[];
}

function valueInfo(v: onnxProto.onnx.IValueInfoProto): ValueInfo {
  const t = v.type?.tensorType;
  if (t === undefined || t === null) return { name: v.name ?? '', type: undefined, shape: [] };
  const shape = (t.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0)));
  return { name: v.name ?? '', type: ELEM_NAMES[t.elemType ?? 0] ?? `type${t.elemType ?? 0}`, shape };
}

/**
 * Read the inputs, outputs and operators of an .onnx file. External weights (`.data`) are not
 * read: the graph file of a 7.8 GB export is small.
 * @throws ModelLoadError FILE_MISSING when absent, ONNX_INVALID when it is not an ONNX model.
 */
export async function scanOnnx(path: string): Promise<GraphScan> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`, { cause: error });
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError('ONNX_INVALID', path, `${path}: not an ONNX model (${reason})`, { cause: error });
  }
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new ModelLoadError('ONNX_INVALID', path, `${path}: ONNX model without a graph`);
  // Old IR versions list initializers among the inputs; they are not fed.
  const constants = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const nodes: ScannedNode[] = [];
  const visit = (list: readonly onnxProto.onnx.INodeProto[]): void => {
    for (const n of list) {
      nodes.push({ domain: n.domain ?? '', op: n.opType ?? '', inputs: n.input ?? [] });
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g.node ?? []);
        for (const g of a.graphs ?? []) visit(g.node ?? []);
      }
    }
  };
  visit(graph.node ?? []);
  return {
    path,
    inputs: (graph.input ?? []).filter((v) => !constants.has(v.name ?? '')).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
    nodes,
  };
}

/**
 * Operators ONNX Runtime's CPU provider has no kernel for (notes on onnxruntime-node 1.30: the first
 * five fail at session creation, packed-QKV/KV MultiHeadAttention only inside run()).
 */
export const CPU_MISSING_OPS: readonly string[] = ['GroupNorm', 'SkipGroupNorm', 'NhwcConv', 'BiasSplitGelu', 'BiasAdd'];

/** Why a graph cannot run on the CPU provider, or undefined when every operator can. */
export function cpuUnsupportedOp(scan: GraphScan): string | undefined {
  for (const n of scan.nodes) {
    if (CPU_MISSING_OPS.includes(n.op)) return `operator ${n.op}${n.domain ? ` (${n.domain})` : ''}`;
    if (n.op === 'MultiHeadAttention') {
      const key = n.inputs[1] ?? '';
      const value = n.inputs[2] ?? '';
      if (key === '') return 'operator MultiHeadAttention with packed QKV (query holds Q, K and V)';
      if (value === '') return 'operator MultiHeadAttention with packed KV (key holds K and V)';
    }
  }
  return undefined;
}

/**
 * Reject a graph the CPU provider cannot run, before any session or sampling.
 * @throws ModelLoadError UNSUPPORTED_OP naming the file and the operator.
 */
export function checkCpuOps(scan: GraphScan): void {
  const why = cpuUnsupportedOp(scan);
  if (why === undefined) return;
  throw new ModelLoadError(
    'UNSUPPORTED_OP',
    scan.path,
    `${scan.path} uses ${why}, which ONNX Runtime's CPU provider does not implement; this graph needs a GPU (device "cuda"), or an export without GPU-only fusions`,
  );
}
