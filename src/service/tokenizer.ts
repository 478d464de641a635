/**
 * Token counting with a real BPE tokenizer (gpt-tokenizer), in the encoding
 * of the model that will read the text: `cl100k_base` for GPT-4 and
 * GPT-3.5, `o200k_base` for the GPT-4o, GPT-4.1, GPT-5 and o-series models,
 * `p50k_base` / `r50k_base` for the old completion models. A character
 * heuristic would be off by 20-50% on code and non-English text, and the
 * budget hold depends on the count.
 *
 * Bounded time: BPE is quadratic in the length of one pre-tokenized piece
 * (a run of letters, of punctuation or of white space). One megabyte of
 * "aaaa…" is a single piece and took gpt-tokenizer 344 s. Text is therefore
 * counted in segments: it is cut between a word and the space before the
 * next word, where both encodings' pre-tokenizers cut anyway (so the sum is
 * exact), and any run longer than LONG_RUN characters is cut every
 * LONG_RUN characters. A cut inside a run can only lose merges across the
 * cut: it may count a token more per cut, never fewer in practice, which is
 * the safe side for a budget hold.
 */
import { createRequire } from 'node:module';
import type { Encoding } from '../model.ts';

export type { Encoding } from '../model.ts';

export type TokenCounter = (text: string, encoding?: Encoding) => number;

/** Runs of one character class longer than this are counted in pieces of this size. */
export const LONG_RUN = 256;
/** Segments of ordinary text are at most about this long (cut at a space). */
const SEGMENT = 16 * 1024;

const encoders = new Map<Encoding, (text: string) => number>();

/**
 * An encoding's counter, given by the runtime: a Worker bundle imports the
 * encodings it serves statically and registers them (it cannot load a file
 * by name); on Node they are loaded on first use instead.
 */
export function registerEncoding(e: Encoding, countTokens: (text: string) => number): void {
  encoders.set(e, countTokens);
}

/** The encoding's counter, loaded on first use (about 250 ms and 40-70 MB each). */
function encoder(e: Encoding): (text: string) => number {
  let f = encoders.get(e);
  if (!f) {
    const mod = createRequire(import.meta.url)(`gpt-tokenizer/cjs/encoding/${e}`) as { countTokens: (text: string) => number };
    f = mod.countTokens;
    encoders.set(e, f);
  }
  return f;
}

/** Load an encoding now (start-up, or a worker thread warming up) instead of on the first count. */
export function preload(e: Encoding): void {
  encoder(e);
}

// A maximal run of letters (with combining marks), of punctuation, or of white space, too long to count in one piece.
const LONG_RUN_RE = new RegExp(`[\\p{L}\\p{M}]{${LONG_RUN + 1},}|[^\\s\\p{L}\\p{M}\\p{N}]{${LONG_RUN + 1},}|\\s{${LONG_RUN + 1},}`, 'gu');

/**
 * The text as segments whose counts add up to the whole's (see the module
 * comment). Long runs are cut every LONG_RUN characters; ordinary text is cut
 * at a space between two non-space characters, about every SEGMENT characters.
 */
export function* segments(text: string): Generator<string> {
  let from = 0;
  for (const m of text.matchAll(LONG_RUN_RE)) {
    const at = m.index;
    yield* ordinary(text, from, at);
    for (let i = at; i < at + m[0].length; i += LONG_RUN) yield text.slice(i, Math.min(i + LONG_RUN, at + m[0].length));
    from = at + m[0].length;
  }
  yield* ordinary(text, from, text.length);
}

function* ordinary(text: string, from: number, to: number): Generator<string> {
  while (to - from > SEGMENT) {
    let cut = -1;
    // A space with a non-space on each side: both pre-tokenizers end a piece before it.
    for (let i = from + SEGMENT; i < to - 1 && i < from + 4 * SEGMENT; i++) {
      if (text.charCodeAt(i) === 32 && !isSpace(text.charCodeAt(i - 1)) && !isSpace(text.charCodeAt(i + 1))) {
        cut = i;
        break;
      }
    }
    if (cut < 0) break;
    yield text.slice(from, cut);
    from = cut;
  }
  if (to > from) yield text.slice(from, to);
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0x3000;
}

/** Tokens in `text` in `encoding` (default cl100k_base), counted segment by segment. */
export const countTokens: TokenCounter = (text, encoding = 'cl100k_base') => {
  if (text.length === 0) return 0;
  const f = encoder(encoding);
  if (text.length <= LONG_RUN) return f(text);
  let n = 0;
  for (const s of segments(text)) n += f(s);
  return n;
};

/**
 * The text a model would read from a request input: every string leaf (and
 * number/boolean, stringified), in document order, one per line. Keys are
 * structure, not prompt, and are not counted. Iterative, so that a deeply
 * nested input cannot overflow the stack.
 */
export function inputText(input: unknown): string {
  const parts: string[] = [];
  const stack: unknown[] = [input];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') parts.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') parts.push(String(v));
    else if (v && typeof v === 'object') {
      const children = Array.isArray(v) ? v : Object.values(v);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
  }
  return parts.join('\n');
}
