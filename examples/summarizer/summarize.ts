import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { STOP_WORDS } from './stopwords.ts';

export interface SummaryResult {
  summary: string;
  sentences: string[];
}

// Client text is data, not a prompt: special-token spellings such as <|endoftext|> count as plain text.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** cl100k_base token count of plain text. */
export function tokenCount(text: string): number {
  return text.length === 0 ? 0 : countTokens(text, PLAIN_TEXT);
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });
// ICU in Node ignores sentence-break suppressions, so titles and initials would end a sentence; glue them back.
const ABBREVIATION_END = /(?:^|\s)(?:mr|mrs|ms|dr|prof|sr|jr|st|mt|vs|etc|inc|ltd|co|no|fig|e\.g|i\.e|[a-z])\.$/i;

/** Split text into trimmed, non-empty sentences (ICU sentence rules, plus common abbreviations). */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let carry = '';
  // ICU breaks at every newline; only blank lines (paragraphs) should, not hard-wrapped lines.
  const unwrapped = text.replace(/\r\n?/g, '\n').replace(/(?<!\n)\n(?!\n)/g, ' ');
  for (const { segment } of sentenceSegmenter.segment(unwrapped)) {
    const s = (carry + segment).replace(/\s+/g, ' ').trim();
    if (ABBREVIATION_END.test(s)) {
      carry = `${s} `;
      continue;
    }
    carry = '';
    if (s.length > 0) out.push(s);
  }
  const rest = carry.trim();
  if (rest.length > 0) out.push(rest);
  return out;
}

/** Lower-cased content words of a text (stop words and bare numbers dropped). */
export function contentWords(text: string): string[] {
  const words = text.toLowerCase().replace(/[’‘]/g, "'").match(/[\p{L}\p{N}]+(?:'[\p{L}]+)*/gu) ?? [];
  return words.filter((w) => !STOP_WORDS.has(w) && !/^\p{N}+$/u.test(w));
}

/**
 * Score each sentence by the normalized frequency (count / max count) of its content words.
 * The sum is divided by sqrt(length) so long sentences do not win on length alone.
 */
export function scoreSentences(sentences: readonly string[]): number[] {
  const perSentence = sentences.map(contentWords);
  const freq = new Map<string, number>();
  for (const words of perSentence) for (const w of words) freq.set(w, (freq.get(w) ?? 0) + 1);
  let max = 0;
  for (const n of freq.values()) max = Math.max(max, n);
  if (max === 0) return sentences.map(() => 0);
  return perSentence.map((words) => {
    if (words.length === 0) return 0;
    let sum = 0;
    for (const w of words) sum += (freq.get(w) ?? 0) / max;
    return sum / Math.sqrt(words.length);
  });
}

/** Longest word-boundary prefix of `text` whose token count fits `maxTokens` (binary search over words). */
export function truncateToTokens(text: string, maxTokens: number): string {
  if (tokenCount(text) <= maxTokens) return text;
  const words = text.split(' ');
  let lo = 0;
  let hi = words.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (tokenCount(words.slice(0, mid).join(' ')) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return words.slice(0, lo).join(' ');
}

/**
 * Extractive summary: the `count` best-scoring sentences, in their original order.
 * With `maxTokens`, sentences are admitted best-first while the joined summary fits;
 * if not even the best one fits, it is cut at a word boundary.
 */
export function summarize(text: string, count = 3, maxTokens?: number): SummaryResult {
  const all = splitSentences(text);
  const scores = scoreSentences(all);
  const ranked = all.map((_, i) => i).toSorted((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || a - b);
  const best = ranked.slice(0, Math.max(0, count));

  if (maxTokens === undefined) {
    const sentences = best.toSorted((a, b) => a - b).map((i) => all[i] as string);
    return { summary: sentences.join(' '), sentences };
  }

  let kept: number[] = [];
  for (const i of best) {
    const trial = [...kept, i].toSorted((a, b) => a - b);
    if (tokenCount(trial.map((j) => all[j]).join(' ')) <= maxTokens) kept = trial;
  }
  if (kept.length === 0 && best.length > 0) {
    const cut = truncateToTokens(all[best[0] as number] as string, maxTokens);
    return cut.length > 0 ? { summary: cut, sentences: [cut] } : { summary: '', sentences: [] };
  }
  const sentences = kept.map((i) => all[i] as string);
  return { summary: sentences.join(' '), sentences };
}
