// Text → fixed-length input_ids + attention_mask, from a Hugging Face tokenizer.json.
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelInputError, ModelLoadError } from './errors.js';
import { tensor } from './tensor.js';
import type { Tensor } from './tensor.js';

/** One encoded text, exactly `maxLength` long. */
export interface EncodedText {
  ids: number[];
  /** 1 for a real token, 0 for padding. */
  mask: number[];
}

/** A batch of encoded texts as int64 tensors of shape [B, maxLength]. */
export interface EncodedBatch {
  inputIds: Tensor<'int64'>;
  attentionMask: Tensor<'int64'>;
}

/** Options of {@link TextTokenizer.load}. */
export interface TokenizerOptions {
  maxLength: number;
  padId: number;
}

/**
 * A tokenizer with padding and truncation to a fixed length (@huggingface/tokenizers has neither).
 * With a WordPiece tokenizer.json, words outside the vocabulary become its `[UNK]` id.
 */
export class TextTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  private readonly tokenizer: Tokenizer;
  private readonly unkToken: string | undefined;

  constructor(tokenizerJson: object, options: TokenizerOptions) {
    if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
      throw new ModelInputError(`maxLength must be a positive integer but is ${options.maxLength}`);
    }
    this.tokenizer = new Tokenizer(tokenizerJson, {});
    const unk = (tokenizerJson as { model?: { unk_token?: unknown } }).model?.unk_token;
    this.unkToken = typeof unk === 'string' ? unk : undefined;
    this.maxLength = options.maxLength;
    this.padId = options.padId;
  }

  /**
   * Read a tokenizer.json file.
   * @throws ModelLoadError FILE_MISSING when absent, TOKENIZER_INVALID when it cannot be parsed.
   */
  static async load(path: string, options: TokenizerOptions): Promise<TextTokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new ModelLoadError('FILE_MISSING', path, `${path}: tokenizer file is missing`, { cause: error });
    }
    try {
      return new TextTokenizer(JSON.parse(text) as object, options);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ModelLoadError('TOKENIZER_INVALID', path, `${path}: not a valid tokenizer.json (${reason})`, { cause: error });
    }
  }

  /**
   * Encode one text to exactly `maxLength` ids. Truncation keeps the special tokens the
   * post-processor adds around the text (e.g. [CLS] … [SEP]), as Hugging Face tokenizers do.
   * @throws ModelInputError when maxLength is not a positive integer.
   */
  encodeOne(text: string, maxLength = this.maxLength): EncodedText {
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new ModelInputError(`maxLength must be a positive integer but is ${maxLength}`);
    }
    let ids = this.tokenizer.encode(text).ids;
    if (ids.length > maxLength) ids = this.truncate(text, ids, maxLength);
    const real = ids.length;
    const padded = [...ids, ...new Array<number>(maxLength - real).fill(this.padId)];
    const mask = padded.map((_, i) => (i < real ? 1 : 0));
    return { ids: padded, mask };
  }

  /**
   * Encode a batch to int64 tensors [B, maxLength].
   * @throws ModelInputError when maxLength is not a positive integer.
   */
  encode(texts: readonly string[], maxLength = this.maxLength): EncodedBatch {
    const ids = new BigInt64Array(texts.length * maxLength);
    const mask = new BigInt64Array(texts.length * maxLength);
    texts.forEach((text, b) => {
      const e = this.encodeOne(text, maxLength);
      for (let i = 0; i < maxLength; i++) {
        ids[b * maxLength + i] = BigInt(e.ids[i] ?? this.padId);
        mask[b * maxLength + i] = BigInt(e.mask[i] ?? 0);
      }
    });
    return {
      inputIds: tensor('int64', [texts.length, maxLength], ids),
      attentionMask: tensor('int64', [texts.length, maxLength], mask),
    };
  }

  /**
   * The words of `text` (as written, each once, in order) that the vocabulary has no token for:
   * a word-level or WordPiece tokenizer turns them into its unknown token, so the model never sees
   * them. A byte-level BPE tokenizer has no unknown token and reports none.
   */
  unknownWords(text: string): string[] {
    const unk = this.unknownId();
    if (unk === undefined) return [];
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const word of promptWords(text)) {
      const key = word.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.tokenizer.encode(word, { add_special_tokens: false }).ids.includes(unk)) unknown.push(word);
    }
    return unknown;
  }

  #unknownId: number | null | undefined;

  // The id the model's tokenizer.json names as its unknown token (`model.unk_token`), if any.
  private unknownId(): number | undefined {
    if (this.#unknownId === undefined) {
      const token = this.unkToken;
      const id = token === undefined ? undefined : this.tokenizer.token_to_id(token);
      this.#unknownId = id ?? null;
    }
    return this.#unknownId ?? undefined;
  }

  private truncate(text: string, withSpecials: number[], maxLength: number): number[] {
    const body = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const prefix = findPrefixLength(withSpecials, body);
    if (prefix === undefined) return withSpecials.slice(0, maxLength);
    const suffix = withSpecials.length - body.length - prefix;
    if (prefix + suffix >= maxLength) return withSpecials.slice(0, maxLength);
    return [...withSpecials.slice(0, prefix), ...body.slice(0, maxLength - prefix - suffix), ...withSpecials.slice(withSpecials.length - suffix)];
  }
}

// Where `body` sits inside `whole` (the post-processor only wraps it), or undefined if it does not.
function findPrefixLength(whole: number[], body: number[]): number | undefined {
  for (let start = 0; start + body.length <= whole.length; start++) {
    if (body.every((id, i) => whole[start + i] === id)) return start;
  }
  return undefined;
}

/** The words of a prompt as its warnings name them: runs of letters, digits, _, ' and -. */
export function promptWords(text: string): string[] {
  return text.match(/[\p{L}\p{N}_'-]+/gu) ?? [];
}
