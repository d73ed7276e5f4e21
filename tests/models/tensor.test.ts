import { describe, it, expect } from 'vitest';
import { concat, float32, int64, reshape, size, slice, tensor, zeros } from '../../models/tensor.js';
import { ModelInputError } from '../../models/errors.js';

describe('tensor', () => {
  it('checks data length against dims', () => {
    expect(size([2, 3, 4])).toBe(24);
    expect(size([])).toBe(1);
    expect(() => tensor('float32', [2, 2], new Float32Array(3))).toThrow('tensor data has 3 elements but dims [2, 2] need 4');
    expect(() => zeros('float32', [2, -1])).toThrow(ModelInputError);
    expect(zeros('int64', [2]).data).toEqual(new BigInt64Array(2));
    expect(int64([2], [5, 7]).data).toEqual(BigInt64Array.of(5n, 7n));
  });

  it('concatenates along an inner axis, interleaving blocks', () => {
    const a = float32([2, 2], [1, 2, 3, 4]);
    const b = float32([2, 1], [9, 8]);
    const c = concat([a, b], 1);
    expect(c.dims).toEqual([2, 3]);
    expect(Array.from(c.data)).toEqual([1, 2, 9, 3, 4, 8]);
    expect(Array.from(concat([a, a], 0).data)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(() => concat([a, float32([3, 1], [1, 2, 3])], 1)).toThrow('cannot concat float32[3, 1] with float32[2, 2] along axis 1');
  });

  it('slices a range of one axis (T chunks) and round-trips with concat', () => {
    const t = float32(
      [1, 2, 3, 2],
      Array.from({ length: 12 }, (_, i) => i),
    );
    const s = slice(t, 2, 1, 3);
    expect(s.dims).toEqual([1, 2, 2, 2]);
    expect(Array.from(s.data)).toEqual([2, 3, 4, 5, 8, 9, 10, 11]);
    expect(Array.from(concat([slice(t, 2, 0, 1), s], 2).data)).toEqual(Array.from(t.data));
    expect(() => slice(t, 2, 2, 4)).toThrow('slice [2, 4) is out of range for axis 2 of length 3');
    expect(() => slice(t, 4, 0, 1)).toThrow('axis 4 is out of range for a rank-4 tensor');
    expect(reshape(t, [12]).dims).toEqual([12]);
    expect(() => reshape(t, [5])).toThrow(ModelInputError);
  });
});
