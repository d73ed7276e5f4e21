// Plain tensors ({ type, dims, data }) — the only tensor shape that crosses the models/ boundary.
import { ModelInputError } from './errors.js';

/** Typed-array storage of each element type (bool is one byte per element, as in ONNX Runtime). */
export interface TensorDataMap {
  float32: Float32Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Element type of a {@link Tensor}. */
export type TensorType = keyof TensorDataMap;

/** A dense row-major tensor. */
export interface Tensor<T extends TensorType = TensorType> {
  readonly type: T;
  readonly dims: readonly number[];
  readonly data: TensorDataMap[T];
}

const ARRAY_OF: { [T in TensorType]: new (length: number) => TensorDataMap[T] } = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** Number of elements of a shape (1 for a scalar). */
export function size(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * Wrap existing data as a tensor (no copy).
 * @throws ModelInputError when a dimension is not a non-negative integer or data length ≠ size(dims).
 */
export function tensor<T extends TensorType>(type: T, dims: readonly number[], data: TensorDataMap[T]): Tensor<T> {
  checkDims(dims);
  if (data.length !== size(dims)) {
    throw new ModelInputError(`tensor data has ${data.length} elements but dims [${dims.join(', ')}] need ${size(dims)}`);
  }
  return { type, dims: [...dims], data };
}

function checkDims(dims: readonly number[]): void {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new ModelInputError(`tensor dims must be non-negative integers but are [${dims.join(', ')}]`);
  }
}

/** A zero-filled tensor. @throws ModelInputError for a dimension that is not a non-negative integer. */
export function zeros<T extends TensorType>(type: T, dims: readonly number[]): Tensor<T> {
  checkDims(dims);
  return tensor(type, dims, new ARRAY_OF[type](size(dims)));
}

/** A float32 tensor from numbers. @throws ModelInputError on a length mismatch. */
export function float32(dims: readonly number[], values: ArrayLike<number>): Tensor<'float32'> {
  return tensor('float32', dims, Float32Array.from(values));
}

/** An int64 tensor from (safe-integer) numbers. @throws ModelInputError on a length mismatch. */
export function int64(dims: readonly number[], values: ArrayLike<number>): Tensor<'int64'> {
  return tensor('int64', dims, BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
}

/** An int32 tensor from numbers. @throws ModelInputError on a length mismatch. */
export function int32(dims: readonly number[], values: ArrayLike<number>): Tensor<'int32'> {
  return tensor('int32', dims, Int32Array.from(values));
}

function checkAxis(dims: readonly number[], axis: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
    throw new ModelInputError(`axis ${axis} is out of range for a rank-${dims.length} tensor`);
  }
}

/**
 * Concatenate tensors of one type along `axis`; all other dims must agree.
 * @throws ModelInputError on an empty list, mixed types, a bad axis or mismatched dims.
 */
export function concat<T extends TensorType>(tensors: readonly Tensor<T>[], axis: number): Tensor<T> {
  const first = tensors[0];
  if (first === undefined) throw new ModelInputError('concat needs at least one tensor');
  checkAxis(first.dims, axis);
  for (const t of tensors) {
    const sameOther = t.dims.length === first.dims.length && t.dims.every((d, i) => i === axis || d === first.dims[i]);
    if (t.type !== first.type || !sameOther) {
      throw new ModelInputError(`cannot concat ${t.type}[${t.dims.join(', ')}] with ${first.type}[${first.dims.join(', ')}] along axis ${axis}`);
    }
  }
  const outer = size(first.dims.slice(0, axis));
  const inner = size(first.dims.slice(axis + 1));
  const dims = [...first.dims];
  dims[axis] = tensors.reduce((n, t) => n + t.dims[axis], 0);
  const out = new ARRAY_OF[first.type](size(dims));
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const block = t.dims[axis] * inner;
      // The typed arrays of one element type share set/subarray; TS cannot see that through the map.
      (out as Float32Array).set((t.data as Float32Array).subarray(o * block, (o + 1) * block), offset);
      offset += block;
    }
  }
  return { type: first.type, dims, data: out };
}

/**
 * Copy of the range [start, end) of `axis` (e.g. a chunk of latent frames along T).
 * @throws ModelInputError on a bad axis or range.
 */
export function slice<T extends TensorType>(t: Tensor<T>, axis: number, start: number, end: number): Tensor<T> {
  checkAxis(t.dims, axis);
  const n = t.dims[axis];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
    throw new ModelInputError(`slice [${start}, ${end}) is out of range for axis ${axis} of length ${n}`);
  }
  const outer = size(t.dims.slice(0, axis));
  const inner = size(t.dims.slice(axis + 1));
  const dims = [...t.dims];
  dims[axis] = end - start;
  const out = new ARRAY_OF[t.type](size(dims));
  const block = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * n + start) * inner;
    (out as Float32Array).set((t.data as Float32Array).subarray(from, from + block), o * block);
  }
  return { type: t.type, dims, data: out };
}

/** Same data viewed with new dims of equal size. @throws ModelInputError when the sizes differ. */
export function reshape<T extends TensorType>(t: Tensor<T>, dims: readonly number[]): Tensor<T> {
  return tensor(t.type, dims, t.data);
}

// float16 ↔ float32 by hand: Node 20 has no Float16Array, and onnxruntime-node takes and returns
// float16 tensors as raw Uint16Array bits.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of each value, rounded to nearest even (overflow → ±Infinity). */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32Scratch[0] = values[i];
    const x = u32Scratch[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rest > mid || (rest === mid && (half & 1) === 1)) half += 1;
      out[i] = sign | half;
    } else {
      let half = (e << 10) | (mant >>> 13);
      const rest = mant & 0x1fff;
      if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
      out[i] = sign | half;
    }
  }
  return out;
}

/** float32 values of IEEE half-precision bits. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
