// umT5 tokenization for Wan: cleaned prompt → 512 int64 ids ending in </s>, padded with <pad>, and its 0/1 mask.
import { readFile } from 'node:fs/promises';
import { ModelInputError, ModelLoadError } from '../errors.js';
import { TextTokenizer } from '../tokenizer.js';
import { cleanPrompt } from './clean-text.js';

/** The text length Wan's DiT is trained with: the T5 states are always [1, 512, 4096]. */
export const UMT5_TEXT_LENGTH = 512;

/** One prompt, ready for the text encoder. */
export interface Umt5Encoding {
  /** Token ids, `</s>` after the last text token, then `<pad>`; length = the tokenizer's textLength. */
  ids: BigInt64Array;
  /** 1 for each real token (`</s>` included), 0 for padding. */
  mask: BigInt64Array;
  /** How many ids are real (the mask's sum), at most textLength. */
  length: number;
}

/** Options of {@link Umt5Tokenizer}. */
export interface Umt5TokenizerOptions {
  /** Default {@link UMT5_TEXT_LENGTH}. */
  textLength?: number;
}

interface TokenizerJson {
  model?: { type?: string; vocab?: unknown; unk_id?: number | null };
  added_tokens?: { id?: number; content?: string }[];
}

// The id of a piece: umT5 lists its specials in added_tokens; a Unigram vocab is [piece, score] by id.
function pieceId(json: TokenizerJson, piece: string): number | undefined {
  const added = json.added_tokens?.find((t) => t.content === piece)?.id;
  if (added !== undefined) return added;
  const vocab = json.model?.vocab;
  if (!Array.isArray(vocab)) return undefined;
  const index = vocab.findIndex((entry) => Array.isArray(entry) && entry[0] === piece);
  return index >= 0 ? index : undefined;
}

/**
 * google/umt5-xxl's Unigram tokenizer as Wan uses it, through @huggingface/tokenizers (pure JS).
 * Truncation keeps `</s>` at the last place, as Hugging Face truncation does: 511 text tokens +
 * `</s>` for a long prompt (wannx's plain cut would drop it).
 */
export class Umt5Tokenizer {
  readonly textLength: number;
  readonly padId: number;
  readonly eosId: number;
  /** The `<unk>` id, or undefined when the model has none. */
  readonly unkId: number | undefined;
  private readonly tokenizer: TextTokenizer;

  /**
   * @param source names the file in errors.
   * @throws ModelInputError when textLength is not an integer ≥ 2 (one token and `</s>`).
   * @throws ModelLoadError TOKENIZER_INVALID when the JSON is not a Unigram tokenizer with `<pad>`
   *   and `</s>`, or does not end every text with `</s>`.
   */
  constructor(tokenizerJson: object, options: Umt5TokenizerOptions = {}, source = 'tokenizer.json') {
    const textLength = options.textLength ?? UMT5_TEXT_LENGTH;
    if (!Number.isInteger(textLength) || textLength < 2) throw new ModelInputError(`textLength must be an integer ≥ 2 but is ${textLength}`);
    this.textLength = textLength;
    const json = tokenizerJson as TokenizerJson;
    const invalid = (why: string) => new ModelLoadError('TOKENIZER_INVALID', source, `${source}: not a umT5 tokenizer (${why})`);
    if (json.model?.type !== 'Unigram') throw invalid(`model type is ${String(json.model?.type)}, not Unigram`);
    const pad = pieceId(json, '<pad>');
    const eos = pieceId(json, '</s>');
    if (pad === undefined) throw invalid('no <pad> token');
    if (eos === undefined) throw invalid('no </s> token');
    this.padId = pad;
    this.eosId = eos;
    this.unkId = json.model.unk_id ?? undefined;
    try {
      this.tokenizer = new TextTokenizer(json, { maxLength: this.textLength, padId: pad });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ModelLoadError('TOKENIZER_INVALID', source, `${source}: not a valid tokenizer.json (${reason})`, { cause: error });
    }
    // Wan's text encoder was trained on texts that end in </s>: a file whose post-processor does
    // not add it would encode every prompt subtly wrong, so refuse it here.
    const empty = this.tokenizer.encodeOne('');
    if (empty.ids[0] !== eos || empty.mask[1] !== 0) throw invalid('its post-processor does not end a text with </s> alone');
  }

  /**
   * Read a tokenizer.json (google/umt5-xxl's is 16.8 MB).
   * @throws ModelLoadError FILE_MISSING when absent, TOKENIZER_INVALID when it is not JSON or not umT5-shaped.
   * @throws ModelInputError for a bad textLength.
   */
  static async load(path: string, options: Umt5TokenizerOptions = {}): Promise<Umt5Tokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new ModelLoadError('FILE_MISSING', path, `${path}: tokenizer file is missing`, { cause: error });
    }
    let json: object;
    try {
      json = JSON.parse(text) as object;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ModelLoadError('TOKENIZER_INVALID', path, `${path}: not a valid tokenizer.json (${reason})`, { cause: error });
    }
    return new Umt5Tokenizer(json, options, path);
  }

  /** Wan's cleaning, then ids and mask of exactly textLength (see {@link cleanPrompt} for what differs from Wan). */
  encode(prompt: string): Umt5Encoding {
    const { ids, mask } = this.tokenizer.encodeOne(cleanPrompt(prompt));
    const out: Umt5Encoding = { ids: new BigInt64Array(this.textLength), mask: new BigInt64Array(this.textLength), length: 0 };
    for (let i = 0; i < this.textLength; i++) {
      out.ids[i] = BigInt(ids[i]);
      out.mask[i] = BigInt(mask[i]);
      out.length += mask[i];
    }
    return out;
  }

  /**
   * The words of the cleaned prompt that reach the model only as `<unk>`. A subword vocabulary
   * spells every word from pieces, so for umT5 (256k pieces) this is empty but for characters it
   * has never seen; a word-level family would list every word outside its vocabulary here.
   */
  unknownWords(prompt: string): string[] {
    const unk = this.unkId;
    if (unk === undefined) return [];
    const words = cleanPrompt(prompt)
      .split(' ')
      .filter((w) => w !== '');
    const unknown = new Set<string>();
    for (const word of words) {
      if (this.tokenizer.encodeOne(word).ids.includes(unk)) unknown.add(word);
    }
    return [...unknown];
  }
}
