// Owns writing ONNX graphs as bytes (over onnx-proto): the tfjs converter and the test fixtures build models with it.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Element types a graph input, output or initializer may have. */
export type ElemType = 'float32' | 'int64' | 'int32';

// TensorProto.DataType numbers (onnx.proto3).
const ELEM: Record<ElemType, number> = { float32: 1, int32: 6, int64: 7 };

/** A graph input or output: symbolic dims are strings. */
export interface ValueSpec {
  name: string;
  type: ElemType;
  shape: (number | string)[];
}

/** An attribute value: integers, floats, or lists of them (lists of integers must be marked). */
export type AttrValue = { int: number } | { float: number } | { ints: number[] } | { floats: number[] } | { string: string };

/** One operator node. */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  /** Node name; default `<op>_<index>`. Converters pass the source layer's name so ORT errors point at it. */
  name?: string;
}

/** A constant tensor stored in the graph. */
export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array;
}

/** A whole graph. */
export interface GraphSpec {
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: NodeSpec[];
  initializers?: Initializer[];
  /** Default opset 17. */
  opset?: number;
  /** Graph name; default `tiny`. */
  name?: string;
  /** Who wrote the model (ModelProto.producer_name); default `skyloom-tests`. */
  producer?: string;
  /** Free text stored in ModelProto.doc_string (e.g. where the weights came from). */
  docString?: string;
}

function valueInfo(v: ValueSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in value) return { name, type: T.INT, i: value.int };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: T.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.STRING, s: new TextEncoder().encode(value.string) };
}

function dataType(data: Initializer['data']): number {
  if (data instanceof Float32Array) return ELEM.float32;
  if (data instanceof Int32Array) return ELEM.int32;
  return ELEM.int64;
}

/** Serialise a graph to .onnx bytes (weights inline; fine below protobuf's 2 GiB limit). */
export function buildModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: spec.producer ?? 'skyloom-tests',
    docString: spec.docString ?? '',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: spec.name ?? 'tiny',
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: (spec.initializers ?? []).map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: dataType(t.data),
        // Little-endian raw bytes, as ONNX specifies; every platform Node runs on here is little-endian.
        rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
