import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextTokenizer } from '../../models/tokenizer.js';
import { ModelLoadError } from '../../models/errors.js';
import { wordPieceTokenizer } from './fixtures/tokenizer-json.js';

describe('TextTokenizer', () => {
  const plain = new TextTokenizer(wordPieceTokenizer(), { maxLength: 6, padId: 0 });

  it('encodes whole words to ids, pads to maxLength with a 0 mask', () => {
    expect(plain.encodeOne('A red circle')).toEqual({ ids: [4, 5, 7, 0, 0, 0], mask: [1, 1, 1, 0, 0, 0] });
  });

  it('maps unknown words to [UNK]', () => {
    expect(plain.encodeOne('a purple circle').ids.slice(0, 3)).toEqual([4, 1, 7]);
  });

  it('truncates to maxLength', () => {
    expect(plain.encodeOne('a red circle moves left on a green background')).toEqual({ ids: [4, 5, 7, 9, 10, 12], mask: [1, 1, 1, 1, 1, 1] });
    expect(plain.encodeOne('a red circle', 2)).toEqual({ ids: [4, 5], mask: [1, 1] });
  });

  it('keeps [CLS] and [SEP] when truncating a post-processed text', () => {
    const bert = new TextTokenizer(wordPieceTokenizer({ withSpecials: true }), { maxLength: 5, padId: 0 });
    expect(bert.encodeOne('blue square')).toEqual({ ids: [2, 6, 8, 3, 0], mask: [1, 1, 1, 1, 0] });
    expect(bert.encodeOne('a blue square moves right')).toEqual({ ids: [2, 4, 6, 8, 3], mask: [1, 1, 1, 1, 1] });
  });

  it('encodes a batch to int64 [B, L] tensors with a custom pad id', () => {
    const t = new TextTokenizer(wordPieceTokenizer(), { maxLength: 4, padId: 15 });
    const { inputIds, attentionMask } = t.encode(['red', 'blue square']);
    expect(inputIds.type).toBe('int64');
    expect(inputIds.dims).toEqual([2, 4]);
    expect(Array.from(inputIds.data, Number)).toEqual([5, 15, 15, 15, 6, 8, 15, 15]);
    expect(Array.from(attentionMask.data, Number)).toEqual([1, 0, 0, 0, 1, 1, 0, 0]);
  });

  it('fails with the file name for a missing or broken tokenizer.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skyloom-tok-'));
    const missing = join(dir, 'nope.json');
    await expect(TextTokenizer.load(missing, { maxLength: 4, padId: 0 })).rejects.toThrow(`${missing}: tokenizer file is missing`);
    const broken = join(dir, 'tokenizer.json');
    await writeFile(broken, '{ not json');
    const error = await TextTokenizer.load(broken, { maxLength: 4, padId: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('TOKENIZER_INVALID');
    expect((error as ModelLoadError).message).toContain(`${broken}: not a valid tokenizer.json`);
  });
});
