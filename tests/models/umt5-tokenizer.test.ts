import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll } from 'vitest';
import { Umt5Tokenizer, UMT5_TEXT_LENGTH } from '../../models/tokenizers/umt5.js';
import { cleanPrompt, unescapeHtml } from '../../models/tokenizers/clean-text.js';
import { ModelLoadError } from '../../models/errors.js';

// tests/fixtures/wan/make_tokenizer.py built the tokenizer and computed these ids with Python
// `tokenizers` (truncation to 512, padding to 512) on prompts cleaned as Wan cleans them.
const tokenizerPath = fileURLToPath(new URL('../fixtures/wan/umt5-tiny/tokenizer.json', import.meta.url));
interface Case {
  prompt: string;
  cleaned: string;
  tokensBeforeTruncation: number;
  unknownPieces: number;
  ids: number[];
  mask: number[];
}
const reference = JSON.parse(readFileSync(new URL('../fixtures/wan/umt5-tokenizer-reference.json', import.meta.url), 'utf8')) as { cases: Case[] };

let tokenizer: Umt5Tokenizer;
beforeAll(async () => {
  tokenizer = await Umt5Tokenizer.load(tokenizerPath);
});

describe('umT5 tokenizer', () => {
  it('has the reference cases it claims: CJK, emoji, whitespace, entities, a prompt past 512 tokens', () => {
    expect(reference.cases.length).toBeGreaterThanOrEqual(10);
    expect(reference.cases.some((c) => c.tokensBeforeTruncation > 600)).toBe(true);
    expect(reference.cases.some((c) => c.unknownPieces > 0)).toBe(true);
  });

  for (const c of reference.cases) {
    it(`matches Python tokenizers on ${JSON.stringify(c.prompt.slice(0, 40))}${c.prompt.length > 40 ? '…' : ''}`, () => {
      expect(cleanPrompt(c.prompt)).toBe(c.cleaned);
      const e = tokenizer.encode(c.prompt);
      expect(e.ids).toBeInstanceOf(BigInt64Array);
      expect(e.mask).toBeInstanceOf(BigInt64Array);
      expect(Array.from(e.ids, Number)).toEqual(c.ids);
      expect(Array.from(e.mask, Number)).toEqual(c.mask);
      expect(e.length).toBe(c.mask.reduce((a, b) => a + b, 0));
    });
  }

  it('truncates a long prompt to 511 tokens + </s> at position 511, with a full mask', () => {
    const long = reference.cases.find((c) => c.tokensBeforeTruncation > UMT5_TEXT_LENGTH)!;
    const e = tokenizer.encode(long.prompt);
    expect(e.length).toBe(512);
    expect(e.ids[511]).toBe(1n);
    expect(e.ids[510]).not.toBe(1n);
    expect(e.mask.every((m) => m === 1n)).toBe(true);
  });

  it('ends a short prompt with </s> and pads with 0, mask 0 on the padding', () => {
    const e = tokenizer.encode('a cat');
    expect(e.length).toBe(3);
    expect(Array.from(e.ids.slice(0, 4), Number)).toEqual([3, 22, 1, 0]);
    expect(Array.from(e.mask.slice(0, 4), Number)).toEqual([1, 1, 1, 0]);
    expect(e.ids.length).toBe(512);
    const empty = tokenizer.encode('   ');
    expect(empty.length).toBe(1);
    expect(empty.ids[0]).toBe(1n);
  });

  it('honours a shorter text length, still keeping </s> last', async () => {
    const short = await Umt5Tokenizer.load(tokenizerPath, { textLength: 4 });
    const e = short.encode('a red ball bounces slowly');
    expect(Array.from(e.ids, Number)).toEqual([3, 43, 76, 1]);
    expect(() => new Umt5Tokenizer({}, { textLength: 1 })).toThrow('textLength must be an integer ≥ 2 but is 1');
  });

  it('names the words that reach the model only as <unk>, and none when every piece exists', () => {
    expect(tokenizer.unknownWords('a dog 🐕 running on the beach 🌊🏖️ at sunset')).toEqual(['🐕', '🌊🏖️']);
    expect(tokenizer.unknownWords('a cat walking in a sunlit garden')).toEqual([]);
    expect(tokenizer.unknownWords('一只猫在阳光下的花园里散步')).toEqual([]);
  });

  it('refuses a missing file, bad JSON and a tokenizer that is not umT5-shaped, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skyloom-umt5-'));
    await expect(Umt5Tokenizer.load(join(dir, 'none.json'))).rejects.toThrow(`${join(dir, 'none.json')}: tokenizer file is missing`);
    await writeFile(join(dir, 'bad.json'), '{ not json');
    await expect(Umt5Tokenizer.load(join(dir, 'bad.json'))).rejects.toThrow(`${join(dir, 'bad.json')}: not a valid tokenizer.json`);
    const json = JSON.parse(readFileSync(tokenizerPath, 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'wordpiece.json'), JSON.stringify({ ...json, model: { type: 'WordPiece', vocab: {} } }));
    const err = await Umt5Tokenizer.load(join(dir, 'wordpiece.json')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('TOKENIZER_INVALID');
    expect((err as ModelLoadError).message).toBe(`${join(dir, 'wordpiece.json')}: not a umT5 tokenizer (model type is WordPiece, not Unigram)`);
    await writeFile(join(dir, 'no-eos.json'), JSON.stringify({ ...json, post_processor: null }));
    await expect(Umt5Tokenizer.load(join(dir, 'no-eos.json'))).rejects.toThrow(
      `${join(dir, 'no-eos.json')}: not a umT5 tokenizer (its post-processor does not end a text with </s> alone)`,
    );
  });
});

describe('Wan prompt cleaning (minus ftfy)', () => {
  it('unescapes HTML as Python html.unescape does', () => {
    expect(unescapeHtml('Tom &amp; Jerry &lt;3 &#39;x&#39; &#x41;&copy &ampx &notit; &bogus; &#128; &#0; &#1;')).toBe("Tom & Jerry <3 'x' A© &x ¬it; &bogus; € \ufffd ");
  });

  it('unescapes twice, collapses Python-whitespace runs to one space and strips', () => {
    expect(cleanPrompt('  a&amp;amp;b \t\n c\u3000d\u0085e\ufeff  ')).toBe('a&b c d e\ufeff');
  });
});
