// Owns converting a TF.js layers model (model.json + weight shards) into ONNX bytes: one table row per supported Keras layer.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { buildModel, type Initializer, type NodeSpec } from '../onnx-builder.js';

/**
 * The ONNX side of a converted model. Inputs and outputs keep the TF.js names and its NHWC layout
 * (`[batch, height, width, channels]`, height and width dynamic), so the ONNX model is a drop-in for
 * the original; inside, everything runs NCHW, which is what ONNX Conv expects.
 */
export interface ConvertedModel {
  /** The .onnx file's bytes (weights inline). */
  onnx: Uint8Array;
  inputName: string;
  outputName: string;
  /** Channels of the input and of the output (3 for an RGB super-resolution model). */
  inputChannels: number;
  outputChannels: number;
  /** Output pixels per input pixel, along height and width (2 for a 2x upscaler). */
  scale: { height: number; width: number };
  /**
   * How far, in input pixels, an output pixel can see: tiles need at least this much overlap to be
   * computed exactly as the whole image (zero padding then only happens at the real image border).
   */
  receptiveRadius: number;
  /**
   * Bytes of the largest activation per input pixel (float32 channels times the scale reached so
   * far): with the tile size it bounds the memory one model call needs.
   */
  peakBytesPerInputPixel: number;
  /** Layers converted, by Keras class name, for diagnostics. */
  layers: Record<string, number>;
}

/** A TF.js layers model in memory: the parsed model.json and its weights, decoded to float32. */
export interface TfjsLayersModel {
  /** The model.json path, named in every error. */
  file: string;
  modelJson: TfjsModelJson;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
}

/** The parts of a TF.js `model.json` (format `layers-model`) that the converter reads. */
export interface TfjsModelJson {
  format?: string;
  modelTopology: {
    model_config?: KerasModelConfig;
    class_name?: string;
    config?: KerasModelConfig['config'];
  };
  weightsManifest: Array<{ paths: string[]; weights: TfjsWeightSpec[] }>;
}

interface KerasModelConfig {
  class_name: string;
  config: {
    name?: string;
    layers: KerasLayer[];
    input_layers?: Array<[string, number, number]>;
    output_layers?: Array<[string, number, number]>;
  };
}

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string };
  /** Keras 2 functional format: one entry per call of the layer, each a list of `[layer, node, tensor, kwargs]`. */
  inbound_nodes?: unknown[];
}

/** One entry of a weights manifest group. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** The converter cannot express this model in ONNX; the message names the layer and the model.json. */
export class UnsupportedLayerError extends ModelLoadError {
  /** The offending layer's name and Keras class. */
  readonly layer: string;
  readonly className: string;

  constructor(file: string, layer: string, className: string, why: string) {
    super('ONNX_INVALID', file, `${file}: layer "${layer}" (${className}) cannot be converted to ONNX: ${why}`);
    this.layer = layer;
    this.className = className;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading model.json and its shards

function bad(file: string, why: string): ModelLoadError {
  return new ModelLoadError('ONNX_INVALID', file, `${file}: not a TF.js layers model this converter reads (${why})`);
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2 };

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Decode the weights a manifest describes from its shards, concatenated in order (TF.js writes
 * each group's weights back to back across the group's shard files).
 * @throws ModelLoadError ONNX_INVALID naming `file` for a dtype or quantization the converter does
 *   not read, or shards shorter than the manifest says.
 */
export function decodeWeights(file: string, manifest: TfjsModelJson['weightsManifest'], shards: readonly Uint8Array[]): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  let shard = 0;
  for (const group of manifest) {
    const bytes = Buffer.concat(shards.slice(shard, shard + group.paths.length));
    shard += group.paths.length;
    let at = 0;
    for (const spec of group.weights) {
      const n = elementCount(spec.shape);
      const stored = spec.quantization?.dtype ?? spec.dtype;
      const width = BYTES[stored];
      if (spec.dtype !== 'float32' || width === undefined || stored === 'int32') {
        throw bad(file, `weight "${spec.name}" is ${spec.dtype}${spec.quantization ? ` quantized as ${stored}` : ''}; only float32, optionally uint8/uint16-quantized, is read`);
      }
      if (at + n * width > bytes.byteLength) throw bad(file, `weight shards end inside weight "${spec.name}"`);
      const data = new Float32Array(n);
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, n * width);
      if (stored === 'float32') {
        for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
      } else {
        // TF.js affine quantization: value = q * scale + min.
        const { scale = 1, min = 0 } = spec.quantization!;
        for (let i = 0; i < n; i++) data[i] = (width === 1 ? view.getUint8(i) : view.getUint16(i * 2, true)) * scale + min;
      }
      out.set(spec.name, { shape: [...spec.shape], data });
      at += n * width;
    }
  }
  return out;
}

/**
 * Read a TF.js layers model from disk: model.json and the shard files it lists next to it.
 * @throws ModelLoadError FILE_MISSING when model.json or a shard is absent; ONNX_INVALID when
 *   model.json is not a layers model or its weights cannot be decoded.
 */
export async function readTfjsModel(modelJsonPath: string): Promise<TfjsLayersModel> {
  const text = await readFile(modelJsonPath, 'utf8').catch((error: unknown) => {
    throw new ModelLoadError('FILE_MISSING', modelJsonPath, `${modelJsonPath}: cannot read the TF.js model (${(error as Error).message})`, { cause: error });
  });
  let modelJson: TfjsModelJson;
  try {
    modelJson = JSON.parse(text) as TfjsModelJson;
  } catch (error) {
    throw bad(modelJsonPath, `invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(modelJson?.weightsManifest) || typeof modelJson.modelTopology !== 'object') {
    throw bad(modelJsonPath, 'no modelTopology or weightsManifest');
  }
  const shards: Uint8Array[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) {
      const shardPath = join(dirname(modelJsonPath), p);
      shards.push(
        await readFile(shardPath).catch((error: unknown) => {
          throw new ModelLoadError('FILE_MISSING', shardPath, `${shardPath}: weight shard of ${modelJsonPath} is missing`, { cause: error });
        }),
      );
    }
  }
  return { file: modelJsonPath, modelJson, weights: decodeWeights(modelJsonPath, modelJson.weightsManifest, shards) };
}

// ---------------------------------------------------------------------------------------------
// The graph walk

/** What the converter knows about one Keras tensor while walking the graph. */
interface Value {
  /** ONNX tensor name, always NCHW. */
  name: string;
  channels: number;
  /** Output pixels per input pixel so far. */
  scaleH: number;
  scaleW: number;
  /** Receptive radius so far, in input pixels. */
  radius: number;
}

/** What a layer converter gets: its layer, its inputs, and a place to put ONNX nodes and weights. */
interface LayerContext {
  file: string;
  layer: KerasLayer;
  name: string;
  config: Record<string, unknown>;
  inputs: Value[];
  weight(suffix: string): { shape: number[]; data: Float32Array };
  node(op: string, inputs: string[], attrs?: NodeSpec['attrs']): string;
  constant(suffix: string, dims: number[], data: Float32Array): string;
  unsupported(why: string): UnsupportedLayerError;
}

type LayerConverter = (ctx: LayerContext) => Value;

// Keras channels_last axes → NCHW axes.
const NCHW_AXIS: Record<number, number> = { 0: 0, 1: 2, 2: 3, 3: 1, [-1]: 1, [-2]: 3, [-3]: 2 };

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

function only(ctx: LayerContext): Value {
  if (ctx.inputs.length !== 1) throw ctx.unsupported(`expected one input, got ${ctx.inputs.length}`);
  return ctx.inputs[0];
}

// Activation name → how to apply it to an NCHW tensor (used by Activation and by layers' fused `activation`).
const ACTIVATIONS: Record<string, ((ctx: LayerContext, x: string) => string) | undefined> = {
  linear: (_ctx, x) => x,
  relu: (ctx, x) => ctx.node('Relu', [x]),
  sigmoid: (ctx, x) => ctx.node('Sigmoid', [x]),
  tanh: (ctx, x) => ctx.node('Tanh', [x]),
};

function activate(ctx: LayerContext, x: string, activation: unknown): string {
  const name = typeof activation === 'string' ? activation : 'linear';
  const apply = ACTIVATIONS[name];
  if (apply === undefined) throw ctx.unsupported(`activation "${name}" (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return apply(ctx, x);
}

function maxRadius(values: readonly Value[]): number {
  return Math.max(...values.map((v) => v.radius));
}

function sameScale(ctx: LayerContext): void {
  const [a, ...rest] = ctx.inputs;
  for (const v of rest) {
    if (v.scaleH !== a.scaleH || v.scaleW !== a.scaleW) throw ctx.unsupported('its inputs have different spatial sizes');
  }
}

/** Keras layer class → ONNX. Each entry reads the layer's config and emits the ONNX nodes. */
const LAYERS: Record<string, LayerConverter> = {
  /** Conv2D → Conv (kernel HWIO → OIHW; 'same' padding made explicit, as TF puts it), then its activation. */
  Conv2D(ctx) {
    const x = only(ctx);
    const c = ctx.config;
    if (c.data_format !== undefined && c.data_format !== 'channels_last') throw ctx.unsupported(`data_format ${String(c.data_format)}`);
    const [kh, kw] = pair(c.kernel_size, 1);
    const [sh, sw] = pair(c.strides, 1);
    const [dh, dw] = pair(c.dilation_rate, 1);
    const groups = typeof c.groups === 'number' ? c.groups : 1;
    const kernel = ctx.weight('kernel');
    const [h, w, cin, cout] = kernel.shape;
    if (kernel.shape.length !== 4 || h !== kh || w !== kw || cin * groups !== x.channels) {
      throw ctx.unsupported(`kernel shape [${kernel.shape.join(', ')}] does not fit a ${kh}x${kw} conv over ${x.channels} channels`);
    }
    const oihw = new Float32Array(kernel.data.length);
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) oihw[((o * cin + i) * h + y) * w + xx] = kernel.data[((y * w + xx) * cin + i) * cout + o];
    const inputs = [x.name, ctx.constant('kernel', [cout, cin, h, w], oihw)];
    if (c.use_bias !== false) inputs.push(ctx.constant('bias', [cout], ctx.weight('bias').data));
    const attrs: NodeSpec['attrs'] = {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [sh, sw] },
      dilations: { ints: [dh, dw] },
      group: { int: groups },
    };
    const padH = dh * (kh - 1);
    const padW = dw * (kw - 1);
    if (c.padding === 'same' && sh === 1 && sw === 1) {
      // TF pads floor(total/2) before and the rest after.
      attrs.pads = { ints: [Math.floor(padH / 2), Math.floor(padW / 2), padH - Math.floor(padH / 2), padW - Math.floor(padW / 2)] };
    } else if (c.padding === 'same') {
      attrs.auto_pad = { string: 'SAME_UPPER' }; // TF's rule for strided 'same': the extra pixel goes after
    } else if (c.padding !== 'valid') {
      throw ctx.unsupported(`padding ${String(c.padding)}`);
    }
    const y = activate(ctx, ctx.node('Conv', inputs, attrs), c.activation);
    return {
      name: y,
      channels: cout,
      scaleH: x.scaleH / sh,
      scaleW: x.scaleW / sw,
      radius: x.radius + Math.max(Math.ceil(padH / 2) / x.scaleH, Math.ceil(padW / 2) / x.scaleW),
    };
  },

  /** Activation → Relu / Sigmoid / Tanh (linear is dropped). */
  Activation(ctx) {
    const x = only(ctx);
    return { ...x, name: activate(ctx, x.name, ctx.config.activation) };
  },

  /** ReLU → Relu, or Clip when it has a max_value. */
  ReLU(ctx) {
    const x = only(ctx);
    const { max_value: max, negative_slope: slope = 0, threshold = 0 } = ctx.config as { max_value?: number | null; negative_slope?: number; threshold?: number };
    if (slope !== 0 || threshold !== 0) throw ctx.unsupported('negative_slope and threshold other than 0');
    if (max === undefined || max === null) return { ...x, name: ctx.node('Relu', [x.name]) };
    const lo = ctx.constant('min', [], new Float32Array([0]));
    const hi = ctx.constant('max', [], new Float32Array([max]));
    return { ...x, name: ctx.node('Clip', [x.name, lo, hi]) };
  },

  /** LeakyReLU → LeakyRelu. */
  LeakyReLU(ctx) {
    const x = only(ctx);
    const alpha = typeof ctx.config.alpha === 'number' ? ctx.config.alpha : 0.3; // Keras' default
    return { ...x, name: ctx.node('LeakyRelu', [x.name], { alpha: { float: alpha } }) };
  },

  /** PReLU with alpha shared over height and width → PRelu with a [C, 1, 1] slope. */
  PReLU(ctx) {
    const x = only(ctx);
    const shared = (ctx.config.shared_axes as number[] | null | undefined) ?? [];
    const alpha = ctx.weight('alpha');
    if (!(shared.includes(1) && shared.includes(2)) || alpha.data.length !== x.channels) {
      throw ctx.unsupported('only a per-channel alpha (shared_axes [1, 2]) is supported');
    }
    return { ...x, name: ctx.node('PRelu', [x.name, ctx.constant('alpha', [x.channels, 1, 1], alpha.data)]) };
  },

  /** Concatenate → Concat on the matching NCHW axis. */
  Concatenate(ctx) {
    sameScale(ctx);
    const axis = NCHW_AXIS[typeof ctx.config.axis === 'number' ? ctx.config.axis : -1];
    if (axis !== 1) throw ctx.unsupported(`concatenation along axis ${String(ctx.config.axis)}; only the channel axis is supported`);
    const channels = ctx.inputs.reduce((n, v) => n + v.channels, 0);
    return {
      ...ctx.inputs[0],
      channels,
      radius: maxRadius(ctx.inputs),
      name: ctx.node(
        'Concat',
        ctx.inputs.map((v) => v.name),
        { axis: { int: 1 } },
      ),
    };
  },

  /** Add → Sum. */
  Add(ctx) {
    sameScale(ctx);
    return {
      ...ctx.inputs[0],
      radius: maxRadius(ctx.inputs),
      name: ctx.node(
        'Sum',
        ctx.inputs.map((v) => v.name),
      ),
    };
  },

  /** Multiply → Mul (chained for more than two inputs). */
  Multiply(ctx) {
    sameScale(ctx);
    let name = ctx.inputs[0].name;
    for (const v of ctx.inputs.slice(1)) name = ctx.node('Mul', [name, v.name]);
    return { ...ctx.inputs[0], radius: maxRadius(ctx.inputs), name };
  },

  /** UpSampling2D (nearest) → Resize: output pixel (y, x) copies input pixel (floor(y / s), floor(x / s)), as TF does. */
  UpSampling2D(ctx) {
    const x = only(ctx);
    const [sh, sw] = pair(ctx.config.size, 2);
    const interpolation = ctx.config.interpolation ?? 'nearest';
    if (interpolation !== 'nearest') throw ctx.unsupported(`interpolation "${String(interpolation)}" (only nearest is supported)`);
    if (ctx.config.data_format !== undefined && ctx.config.data_format !== 'channels_last') throw ctx.unsupported(`data_format ${String(ctx.config.data_format)}`);
    const scales = ctx.constant('scales', [4], new Float32Array([1, 1, sh, sw]));
    const name = ctx.node('Resize', [x.name, '', scales], {
      mode: { string: 'nearest' },
      coordinate_transformation_mode: { string: 'asymmetric' },
      nearest_mode: { string: 'floor' },
    });
    return { ...x, name, scaleH: x.scaleH * sh, scaleW: x.scaleW * sw };
  },
};

/** Keras class names the converter handles, for error messages and docs. */
export const SUPPORTED_LAYERS: readonly string[] = ['InputLayer', ...Object.keys(LAYERS)];

// Why a layer class is refused, where a plain "unsupported" would not help the reader.
const REFUSALS: Record<string, string> = {
  Lambda: 'a Lambda layer holds Python code that model.json does not carry, so there is nothing to convert',
};

// ---------------------------------------------------------------------------------------------
// The converter

function layerName(layer: KerasLayer): string {
  return layer.name ?? layer.config.name ?? '<unnamed>';
}

/** The layer names feeding `layer`, from the Keras 2 `inbound_nodes` format. */
function inboundNames(file: string, layer: KerasLayer): string[] {
  const nodes = layer.inbound_nodes ?? [];
  if (nodes.length === 0) return [];
  if (nodes.length > 1) throw new UnsupportedLayerError(file, layerName(layer), layer.class_name, 'the layer is shared (called more than once)');
  const entries = nodes[0];
  if (!Array.isArray(entries) || !entries.every((e) => Array.isArray(e) && typeof e[0] === 'string')) {
    throw bad(file, `layer "${layerName(layer)}" has inbound_nodes in a format other than Keras 2's`);
  }
  return entries.map((e) => (e as [string])[0]);
}

function graphOf(model: TfjsLayersModel): { layers: KerasLayer[]; inputs: string[]; outputs: string[] } {
  const topology = model.modelJson.modelTopology;
  const config = topology.model_config ?? (topology.class_name ? { class_name: topology.class_name, config: topology.config! } : undefined);
  if (config === undefined || !Array.isArray(config.config?.layers)) throw bad(model.file, 'modelTopology has no model_config.config.layers');
  const { layers } = config.config;
  if (config.class_name === 'Sequential') {
    // A Sequential model lists its layers in order; give each an explicit inbound link to the previous one.
    const chained: KerasLayer[] = [];
    let previous: string | undefined;
    for (const layer of layers) {
      const name = layerName(layer);
      chained.push({ ...layer, name, inbound_nodes: previous === undefined ? [] : [[[previous, 0, 0, {}]]] });
      previous = name;
    }
    if (chained[0]?.class_name !== 'InputLayer') {
      const shape = chained[0]?.config.batch_input_shape;
      chained.unshift({ class_name: 'InputLayer', name: 'input', config: { name: 'input', batch_input_shape: shape } });
      chained[1] = { ...chained[1], inbound_nodes: [[['input', 0, 0, {}]]] };
    }
    return { layers: chained, inputs: [layerName(chained[0])], outputs: [previous!] };
  }
  const inputs = (config.config.input_layers ?? []).map((e) => e[0]);
  const outputs = (config.config.output_layers ?? []).map((e) => e[0]);
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw bad(model.file, `the model has ${inputs.length} inputs and ${outputs.length} outputs; one of each is supported`);
  }
  return { layers, inputs, outputs };
}

/** Options of {@link convertTfjsModel}. */
export interface ConvertOptions {
  /** Written into the ONNX model's doc_string (e.g. the package, version and license of the weights). */
  docString?: string;
}

/**
 * Convert a TF.js layers model (an image-to-image network of 2-D convolutions) to ONNX. The ONNX
 * graph takes and returns NHWC float32 like the original, with symbolic batch, height and width.
 * @throws UnsupportedLayerError naming the layer and the model.json for a layer class, activation
 *   or option the table does not cover ({@link SUPPORTED_LAYERS}).
 * @throws ModelLoadError ONNX_INVALID naming the model.json when the topology is not a single-input,
 *   single-output Keras 2 functional or sequential model, or a weight is missing.
 */
export function convertTfjsModel(model: TfjsLayersModel, options: ConvertOptions = {}): ConvertedModel {
  const { file } = model;
  const graph = graphOf(model);
  const values = new Map<string, Value>();
  const nodes: NodeSpec[] = [];
  const initializers: Initializer[] = [];
  const counts: Record<string, number> = {};
  let peak = 0;

  const inputLayer = graph.layers.find((l) => layerName(l) === graph.inputs[0]);
  const inputShape = inputLayer?.config.batch_input_shape as (number | null)[] | undefined;
  const inputChannels = inputShape?.[3];
  if (inputLayer === undefined || inputShape?.length !== 4 || typeof inputChannels !== 'number') {
    throw bad(file, `input layer "${graph.inputs[0]}" must have a batch_input_shape [batch, height, width, channels] with known channels`);
  }
  const inputName = graph.inputs[0];

  for (const layer of graph.layers) {
    const name = layerName(layer);
    counts[layer.class_name] = (counts[layer.class_name] ?? 0) + 1;
    if (layer.class_name === 'InputLayer') {
      if (name !== inputName) throw bad(file, `input layer "${name}" is not the model's input`);
      // NHWC → NCHW once at the entrance.
      nodes.push({ op: 'Transpose', name, inputs: [inputName], outputs: [`${name}:nchw`], attrs: { perm: { ints: [0, 3, 1, 2] } } });
      values.set(name, { name: `${name}:nchw`, channels: inputChannels, scaleH: 1, scaleW: 1, radius: 0 });
      continue;
    }
    const convert = LAYERS[layer.class_name];
    const unsupported = (why: string) => new UnsupportedLayerError(file, name, layer.class_name, why);
    if (convert === undefined) {
      throw unsupported(REFUSALS[layer.class_name] ?? `no ONNX mapping for ${layer.class_name}; supported layers: ${SUPPORTED_LAYERS.join(', ')}`);
    }
    const inputs = inboundNames(file, layer).map((n) => {
      const v = values.get(n);
      if (v === undefined) throw bad(file, `layer "${name}" reads "${n}", which is not defined before it`);
      return v;
    });
    let step = 0;
    const ctx: LayerContext = {
      file,
      layer,
      name,
      config: layer.config,
      inputs,
      weight(suffix) {
        const key = `${name}/${suffix}`;
        const w = model.weights.get(key);
        if (w === undefined) throw bad(file, `weight "${key}" of layer "${name}" is not in the weights manifest`);
        return w;
      },
      node(op, nodeInputs, attrs) {
        const output = `${name}:${step++}`;
        nodes.push({ op, name: `${name}/${op}`, inputs: nodeInputs, outputs: [output], ...(attrs ? { attrs } : {}) });
        return output;
      },
      constant(suffix, dims, data) {
        const init = `${name}/${suffix}`;
        initializers.push({ name: init, dims, data });
        return init;
      },
      unsupported,
    };
    const value = convert(ctx);
    peak = Math.max(peak, value.channels * value.scaleH * value.scaleW * 4);
    values.set(name, value);
  }

  const out = values.get(graph.outputs[0]);
  if (out === undefined) throw bad(file, `output layer "${graph.outputs[0]}" is not among the layers`);
  const outputName = graph.outputs[0] === inputName ? `${inputName}:output` : graph.outputs[0];
  nodes.push({ op: 'Transpose', name: `${outputName}:nhwc`, inputs: [out.name], outputs: [outputName], attrs: { perm: { ints: [0, 2, 3, 1] } } });

  const onnx = buildModel({
    name: 'tfjs-converted',
    producer: 'skyloom convert-tfjs',
    docString: options.docString ?? `converted from ${file}`,
    opset: 17,
    inputs: [{ name: inputName, type: 'float32', shape: ['batch', 'height', 'width', inputChannels] }],
    outputs: [{ name: outputName, type: 'float32', shape: ['batch', 'out_height', 'out_width', out.channels] }],
    nodes,
    initializers,
  });
  return {
    onnx,
    inputName,
    outputName,
    inputChannels,
    outputChannels: out.channels,
    scale: { height: out.scaleH, width: out.scaleW },
    receptiveRadius: Math.ceil(out.radius),
    peakBytesPerInputPixel: peak,
    layers: counts,
  };
}

/**
 * Read a TF.js layers model from disk and convert it (see {@link convertTfjsModel}).
 * @throws as {@link readTfjsModel} and {@link convertTfjsModel}.
 */
export async function convertTfjsFile(modelJsonPath: string, options: ConvertOptions = {}): Promise<ConvertedModel> {
  return convertTfjsModel(await readTfjsModel(modelJsonPath), options);
}
