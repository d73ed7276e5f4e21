// Seeded Gaussian noise that is bit-identical on every machine: SplitMix64 → xoshiro128** → Box–Muller.
import { ModelInputError } from './errors.js';
import { tensor, size } from './tensor.js';
import type { Tensor } from './tensor.js';

/** Largest accepted seed: seeds are unsigned 53-bit integers, so any JS safe integer ≥ 0 works. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const MASK64 = (1n << 64n) - 1n;

/**
 * Check a seed.
 * @throws ModelInputError when it is not an integer in [0, 2^53 - 1].
 */
export function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ModelInputError(`seed must be an integer from 0 to ${MAX_SEED} but is ${seed}`);
  }
  return seed;
}

/**
 * xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c), 32-bit state words
 * so it runs on JS numbers; its 128-bit state is filled from the seed by SplitMix64
 * (https://prng.di.unimi.it/splitmix64.c), as the authors recommend, so nearby seeds diverge at once.
 */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @throws ModelInputError for an invalid seed (see {@link checkSeed}). */
  constructor(seed: number) {
    let x = BigInt(checkSeed(seed));
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      x = (x + 0x9e3779b97f4a7c15n) & MASK64;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      z = z ^ (z >> 31n);
      words.push(Number(z & 0xffffffffn), Number(z >> 32n));
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two 32-bit draws). */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * `count` standard normal samples from `seed`, by the Box–Muller transform (each pair of uniforms
 * gives a cos and a sin sample). Math.log/cos/sin are V8's fdlibm ports, identical across platforms.
 * @throws ModelInputError for an invalid seed.
 */
export function randn(seed: number, count: number): Float32Array {
  const rng = new Xoshiro128(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - rng.nextFloat(); // (0, 1]: log(0) would be -Infinity
    const u2 = rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * A float32 tensor of seeded standard normal noise.
 * @throws ModelInputError for an invalid seed or dims.
 */
export function gaussianNoise(dims: readonly number[], seed: number): Tensor<'float32'> {
  return tensor('float32', dims, randn(seed, size(dims)));
}
