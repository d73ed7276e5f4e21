// The TF.js → ONNX converter against the original models run by @tensorflow/tfjs (pure-JS CPU backend) on the same input.

import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn } from '../../../models/random.js';
import { createSession, releaseSession, runSession, type OnnxSession } from '../../../models/runtime/onnx.js';
import { tensor } from '../../../models/tensor.js';
import { UnsupportedLayerError, convertTfjsFile, convertTfjsModel, decodeWeights, type ConvertedModel, type TfjsModelJson } from '../../../models/upscale/convert-tfjs.js';

const require = createRequire(import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'skyloom-convert-'));

function packageDir(name: string): string {
  // The packages' `exports` hide package.json; their CommonJS entry sits under dist/, so walk up to the root.
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(name)) dir = dirname(dir);
  return dir;
}

function modelJsonOf(pkg: string, scale: number): string {
  return join(packageDir(`@upscalerjs/${pkg}`), 'models', `x${scale}`, 'model.json');
}

/** Loads a model.json + shards from disk into tfjs (the pure-JS build cannot read file://). */
async function loadTfjs(file: string): Promise<tf.LayersModel> {
  const json = JSON.parse(readFileSync(file, 'utf8')) as TfjsModelJson;
  const shards = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(file), p))));
  const bytes = Buffer.concat(shards);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology as object,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  );
}

async function onnxSession(converted: ConvertedModel, name: string): Promise<OnnxSession> {
  const path = join(tmp, `${name}.onnx`);
  writeFileSync(path, converted.onnx);
  return createSession(path, { device: 'cpu' });
}

async function runOnnx(converted: ConvertedModel, session: OnnxSession, input: Float32Array, dims: number[]) {
  const out = await runSession(session, { [converted.inputName]: tensor('float32', dims, input) });
  return out[converted.outputName];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** A seeded input image in the models' 0–255 range. */
function randomInput(count: number, seed: number): Float32Array {
  return Float32Array.from(randn(seed, count), (v) => Math.min(255, Math.max(0, 128 + 60 * v)));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  tf.disposeVariables();
});

describe('converted ESRGAN models match @tensorflow/tfjs', () => {
  const cases = [
    ['esrgan-slim', 2],
    ['esrgan-slim', 4],
    ['esrgan-medium', 2],
  ] as const;

  it.each(cases)('%s %ix: same output on a 1x24x24x3 input, max abs diff <= 1e-3', async (pkg, scale) => {
    const file = modelJsonOf(pkg, scale);
    const input = randomInput(24 * 24 * 3, scale * 7 + pkg.length);
    const model = await loadTfjs(file);
    const expected = tf.tidy(() => (model.predict(tf.tensor4d(input, [1, 24, 24, 3])) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();

    const converted = await convertTfjsFile(file);
    expect(converted.scale).toEqual({ height: scale, width: scale });
    const session = await onnxSession(converted, `${pkg}-${scale}`);
    try {
      const actual = await runOnnx(converted, session, input, [1, 24, 24, 3]);
      expect(actual.dims).toEqual([1, 24 * scale, 24 * scale, 3]);
      expect(actual.data.length).toBe(expected.length);
      const diff = maxAbsDiff(actual.data as Float32Array, expected);
      expect(diff).toBeLessThanOrEqual(1e-3);
      // The output is an image, not a constant: its pixels span a real range.
      expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(100);
    } finally {
      await releaseSession(session);
    }
  });

  it('reproduces the sample picture the slim package ships (fixture.png → samples/2x/result.png)', async () => {
    const dir = packageDir('@upscalerjs/esrgan-slim');
    const { data, info } = await sharp(join(dir, 'assets/fixture.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const reference = await sharp(join(dir, 'assets/samples/2x/result.png')).removeAlpha().raw().toBuffer();
    const converted = await convertTfjsFile(modelJsonOf('esrgan-slim', 2));
    const session = await onnxSession(converted, 'slim-2x-sample');
    try {
      const out = await runOnnx(converted, session, Float32Array.from(data), [1, info.height, info.width, 3]);
      const pixels = Uint8Array.from(out.data as Float32Array, (v) => Math.min(255, Math.max(0, Math.round(v))));
      expect(pixels.length).toBe(reference.length);
      let off = 0;
      for (let i = 0; i < pixels.length; i++) off += Math.abs(pixels[i] - reference[i]);
      expect(maxAbsDiff(pixels, reference)).toBeLessThanOrEqual(1); // rounding of values at .5
      expect(off / pixels.length).toBeLessThan(0.01);
    } finally {
      await releaseSession(session);
    }
  });

  it('reports the scale and a receptive radius for exact tiling', async () => {
    const slim = await convertTfjsFile(modelJsonOf('esrgan-slim', 4));
    expect(slim).toMatchObject({ inputName: 'LR', outputName: 'SR', inputChannels: 3, outputChannels: 3, scale: { height: 4, width: 4 } });
    // slim: nine 3x3 convs (radius 1 each, the last at 4x resolution rounds up) and one 5x5 (radius 2).
    expect(slim.receptiveRadius).toBe(10);
    // Its largest activation: 48 channels upsampled 4x, float32 → 48 * 16 * 4 bytes per input pixel.
    expect(slim.peakBytesPerInputPixel).toBe(3072);
    expect(slim.layers).toMatchObject({ Conv2D: 12, Activation: 4, Concatenate: 3, Add: 3, UpSampling2D: 1 });
  });
});

describe('layers beyond the ESRGAN packages, on a model built in tfjs', () => {
  /** Saves a tfjs model to memory and converts it, returning both sides. */
  async function saveAndConvert(model: tf.LayersModel) {
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const manifest = [{ paths: ['weights.bin'], weights: saved!.weightSpecs as TfjsModelJson['weightsManifest'][0]['weights'] }];
    const file = 'in-memory/model.json';
    const modelJson = { format: 'layers-model', modelTopology: saved!.modelTopology as TfjsModelJson['modelTopology'], weightsManifest: manifest };
    const weights = decodeWeights(file, manifest, [new Uint8Array(saved!.weightData as ArrayBuffer)]);
    return convertTfjsModel({ file, modelJson, weights });
  }

  async function compare(model: tf.LayersModel, name: string, dims: [number, number, number, number]) {
    const input = randomInput(dims[0] * dims[1] * dims[2] * dims[3], 99);
    const expected = tf.tidy(() => (model.predict(tf.tensor4d(input, dims)) as tf.Tensor).dataSync() as Float32Array);
    const converted = await saveAndConvert(model);
    const session = await onnxSession(converted, name);
    try {
      const out = await runOnnx(converted, session, input, dims);
      return { converted, diff: maxAbsDiff(out.data as Float32Array, expected), spread: Math.max(...expected) - Math.min(...expected) };
    } finally {
      await releaseSession(session);
    }
  }

  it('a functional model with LeakyReLU, PReLU, ReLU(max), Multiply, strided and dilated convs, sigmoid/tanh', async () => {
    const x = tf.input({ shape: [null, null, 3] });
    const conv = (filters: number, kernelSize: number, extra: Record<string, unknown> = {}) => tf.layers.conv2d({ filters, kernelSize, padding: 'same', ...extra });
    const a = conv(8, 3, { activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    const b = tf.layers.leakyReLU({ alpha: 0.1 }).apply(conv(8, 3, { dilationRate: 2 }).apply(x)) as tf.SymbolicTensor;
    const c = tf.layers
      .prelu({ sharedAxes: [1, 2], alphaInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 0.5 }) })
      .apply(conv(8, 5).apply(x)) as tf.SymbolicTensor;
    const m = tf.layers.multiply().apply([a, tf.layers.reLU({ maxValue: 1 }).apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const d = tf.layers.concatenate().apply([m, c]) as tf.SymbolicTensor;
    const e = conv(8, 3, { strides: 2, activation: 'tanh' }).apply(d) as tf.SymbolicTensor;
    const u = tf.layers.upSampling2d({ size: [2, 2] }).apply(e) as tf.SymbolicTensor;
    const f = tf.layers.add().apply([u, conv(8, 1, { padding: 'valid', activation: 'sigmoid' }).apply(d) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const y = tf.layers.activation({ activation: 'relu' }).apply(conv(3, 3).apply(f)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: x, outputs: y });
    const { converted, diff, spread } = await compare(model, 'functional-extra', [2, 16, 20, 3]);
    model.dispose();
    expect(converted.layers).toMatchObject({ LeakyReLU: 1, PReLU: 1, ReLU: 1, Multiply: 1, Concatenate: 1, UpSampling2D: 1, Add: 1 });
    expect(spread).toBeGreaterThan(0.01);
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, spread));
  });

  it('a Sequential model (no explicit input layer in model.json)', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [null, null, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.upSampling2d({ size: [3, 3] }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }),
      ],
    });
    const { converted, diff, spread } = await compare(model, 'sequential', [1, 10, 12, 3]);
    model.dispose();
    expect(converted.scale).toEqual({ height: 3, width: 3 });
    expect(spread).toBeGreaterThan(0.01);
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, spread));
  });
});

describe('unsupported layers', () => {
  /** A copy of slim 2x whose layers are edited by `edit`, written next to a copy of its shard. */
  function editedSlim(edit: (layers: Array<{ class_name: string; name: string; config: Record<string, unknown> }>) => void): string {
    const source = modelJsonOf('esrgan-slim', 2);
    const dir = mkdtempSync(join(tmp, 'edited-'));
    const json = JSON.parse(readFileSync(source, 'utf8'));
    edit(json.modelTopology.model_config.config.layers);
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    copyFileSync(join(dirname(source), 'group1-shard1of1.bin'), join(dir, 'group1-shard1of1.bin'));
    return join(dir, 'model.json');
  }

  it('a Lambda layer is refused with the layer and the file named', async () => {
    const file = editedSlim((layers) => {
      const relu = layers.find((l) => l.name === 'F_1_1_Relu')!;
      relu.class_name = 'Lambda';
      relu.config = { name: 'F_1_1_Relu', function: ['4wEAAAAAAAAA', null, null] };
    });
    const error = await convertTfjsFile(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedLayerError);
    expect(error).toMatchObject({ layer: 'F_1_1_Relu', className: 'Lambda', path: file });
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain('"F_1_1_Relu" (Lambda)');
  });

  it('an unknown layer class lists what is supported; an unknown activation names itself', async () => {
    const file = editedSlim((layers) => {
      layers.find((l) => l.name === 'UPsample')!.class_name = 'DepthToSpace';
    });
    await expect(convertTfjsFile(file)).rejects.toThrow(/layer "UPsample" \(DepthToSpace\).*supported layers: InputLayer, Conv2D/);
    const selu = editedSlim((layers) => {
      layers.find((l) => l.name === 'UPN1_Relu')!.config.activation = 'selu';
    });
    await expect(convertTfjsFile(selu)).rejects.toThrow(/layer "UPN1_Relu" \(Activation\).*activation "selu"/);
  });

  it('bilinear upsampling is refused rather than silently converted as nearest', async () => {
    const file = editedSlim((layers) => {
      layers.find((l) => l.name === 'UPsample')!.config.interpolation = 'bilinear';
    });
    await expect(convertTfjsFile(file)).rejects.toThrow(/"UPsample" \(UpSampling2D\).*interpolation "bilinear"/);
  });
});
