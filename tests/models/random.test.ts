import { describe, it, expect } from 'vitest';
import { gaussianNoise, randn, Xoshiro128 } from '../../models/random.js';

describe('seeded noise', () => {
  it('matches the reference SplitMix64 → xoshiro128** stream (checked against an independent Python port)', () => {
    const rng = new Xoshiro128(0);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([3737715805, 2584255861, 2876756834, 3286328325]);
    const top = new Xoshiro128(2 ** 53 - 1);
    expect([top.nextUint32(), top.nextUint32()]).toEqual([1233166643, 1287031142]);
  });

  it('gives pinned Gaussian values for a seed', () => {
    expect(Array.from(randn(42, 6))).toEqual([1.033046007156372, 0.02586478367447853, -0.578862726688385, -1.3285483121871948, -0.16271498799324036, -1.8775168657302856]);
    // An odd count is a prefix of the even one: the last cos sample is kept, its sin dropped.
    expect(Array.from(randn(42, 5))).toEqual(Array.from(randn(42, 6)).slice(0, 5));
  });

  it('is standard normal', () => {
    const x = randn(7, 200_000);
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    let variance = 0;
    let beyond2 = 0;
    for (const v of x) {
      variance += (v - mean) ** 2;
      if (Math.abs(v) > 2) beyond2++;
    }
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.sqrt(variance / x.length)).toBeCloseTo(1, 2);
    expect(beyond2 / x.length).toBeCloseTo(0.0455, 2); // P(|z| > 2)
  });

  it('differs between seeds and rejects seeds outside 53-bit unsigned integers', () => {
    expect(Array.from(randn(1, 4))).not.toEqual(Array.from(randn(2, 4)));
    expect(gaussianNoise([2, 3], 5).dims).toEqual([2, 3]);
    expect(() => randn(-1, 1)).toThrow('seed must be an integer from 0 to 9007199254740991 but is -1');
    expect(() => randn(1.5, 1)).toThrow('but is 1.5');
    expect(() => randn(2 ** 53, 1)).toThrow('seed must be an integer');
  });
});
