// Prompt cleaning as Wan's reference does it before tokenizing (HTML unescaped twice, whitespace collapsed), minus ftfy.
import { HTML_ENTITIES } from './html-entities.js';

// A character reference: decimal, hex, or a name of up to 32 code points, each maybe without ';'.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// What numeric references in 0x00, 0x0D and 0x80–0x9F stand for (HTML5: Windows-1252 for the C1 range).
const NUMERIC_REPLACEMENTS: Readonly<Record<number, string>> = {
  0x00: '\ufffd',
  0x0d: '\r',
  0x80: '\u20ac',
  0x81: '\x81',
  0x82: '\u201a',
  0x83: '\u0192',
  0x84: '\u201e',
  0x85: '\u2026',
  0x86: '\u2020',
  0x87: '\u2021',
  0x88: '\u02c6',
  0x89: '\u2030',
  0x8a: '\u0160',
  0x8b: '\u2039',
  0x8c: '\u0152',
  0x8d: '\x8d',
  0x8e: '\u017d',
  0x8f: '\x8f',
  0x90: '\x90',
  0x91: '\u2018',
  0x92: '\u2019',
  0x93: '\u201c',
  0x94: '\u201d',
  0x95: '\u2022',
  0x96: '\u2013',
  0x97: '\u2014',
  0x98: '\u02dc',
  0x99: '\u2122',
  0x9a: '\u0161',
  0x9b: '\u203a',
  0x9c: '\u0153',
  0x9d: '\x9d',
  0x9e: '\u017e',
  0x9f: '\u0178',
};

// Code points a numeric reference may not produce: Python drops them (controls, noncharacters).
function droppedCodePoint(cp: number): boolean {
  return (cp >= 0x01 && cp <= 0x08) || cp === 0x0b || (cp >= 0x0e && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
}

function numeric(digits: string, radix: number): string {
  const cp = Number.parseInt(digits, radix);
  const replaced = NUMERIC_REPLACEMENTS[cp];
  if (replaced !== undefined) return replaced;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (droppedCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function named(reference: string): string {
  const whole = HTML_ENTITIES[reference];
  if (whole !== undefined) return whole;
  // The longest legacy name at the start wins ("&ampx" is "&x"), as browsers and Python decode it.
  const points = Array.from(reference);
  for (let n = points.length - 1; n >= 2; n--) {
    const head = HTML_ENTITIES[points.slice(0, n).join('')];
    if (head !== undefined) return head + points.slice(n).join('');
  }
  return `&${reference}`;
}

/**
 * Decode HTML character references with Python's `html.unescape` rules: every HTML5 named
 * reference, legacy names without ';', numeric references with the HTML5 replacements.
 */
export function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (_match, ref: string) => {
    if (ref[0] !== '#') return named(ref);
    const hex = ref[1] === 'x' || ref[1] === 'X';
    return numeric(ref.slice(hex ? 2 : 1).replace(/;$/, ''), hex ? 16 : 10);
  });
}

// Python's str.isspace() set, which its \s and strip() use (JS's \s differs: no U+001C–U+001F or U+0085, adds U+FEFF).
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const RUNS = new RegExp(`[${SPACE}]+`, 'gu');
const EDGES = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'gu');

/**
 * Wan's prompt cleaning (wan/modules/tokenizers.py, clean='whitespace'): HTML unescaped twice,
 * stripped, whitespace runs made one space, stripped. Wan first runs ftfy.fix_text, which has no
 * JavaScript port; it repairs mojibake ("Ã©" → "é") and a few odd characters, which a typed prompt
 * rarely contains, so such text reaches the tokenizer as it is here.
 */
export function cleanPrompt(text: string): string {
  const unescaped = unescapeHtml(unescapeHtml(text)).replace(EDGES, '');
  return unescaped.replace(RUNS, ' ').replace(EDGES, '');
}
