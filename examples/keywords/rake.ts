import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { STOP_WORDS } from './stopwords.ts';

export interface Keyword {
  phrase: string;
  score: number;
}

// Client text is data, not a prompt: special-token spellings such as <|endoftext|> count as plain text.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** cl100k_base token count of plain text. */
export function tokenCount(text: string): number {
  return text.length === 0 ? 0 : countTokens(text, PLAIN_TEXT);
}

/** Longer runs are usually lists or run-on fragments, and RAKE's length bias would rank them first. */
export const MAX_PHRASE_WORDS = 4;

const PHRASE_BREAK = /[.,;:!?()[\]{}"“”«»<>—–…|/\\\r\n\t]+|\s[-–]\s/u;
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

/** Candidate phrases: runs of content words between stop words, numbers and punctuation. */
export function candidatePhrases(text: string): string[][] {
  const phrases: string[][] = [];
  for (const fragment of text.toLowerCase().replace(/’/g, "'").split(PHRASE_BREAK)) {
    let current: string[] = [];
    for (const word of fragment.match(WORD) ?? []) {
      if (STOP_WORDS.has(word) || /^\p{N}+$/u.test(word)) {
        if (current.length > 0) phrases.push(current);
        current = [];
      } else {
        current.push(word);
      }
    }
    if (current.length > 0) phrases.push(current);
  }
  return phrases.filter((p) => p.length <= MAX_PHRASE_WORDS);
}

/**
 * RAKE: each word scores degree/frequency (degree = total length of the candidate phrases it occurs in),
 * a phrase scores the sum of its words. Ranked by score, ties by first appearance.
 */
export function extractKeywords(text: string, limit = 10): Keyword[] {
  const phrases = candidatePhrases(text);
  const freq = new Map<string, number>();
  const degree = new Map<string, number>();
  for (const phrase of phrases) {
    for (const w of phrase) {
      freq.set(w, (freq.get(w) ?? 0) + 1);
      degree.set(w, (degree.get(w) ?? 0) + phrase.length);
    }
  }
  const scored = new Map<string, number>();
  for (const phrase of phrases) {
    const key = phrase.join(' ');
    if (scored.has(key)) continue;
    let score = 0;
    for (const w of phrase) score += (degree.get(w) ?? 0) / (freq.get(w) ?? 1);
    scored.set(key, score);
  }
  // Map iteration keeps first-appearance order, and the sort is stable, so ties stay in text order.
  return [...scored]
    .map(([phrase, score]) => ({ phrase, score: Math.round(score * 1000) / 1000 }))
    .toSorted((a, b) => b.score - a.score)
    .slice(0, Math.max(0, limit));
}

/** The text whose tokens are billed as output: the phrases, comma separated. */
export function keywordText(keywords: readonly Keyword[]): string {
  return keywords.map((k) => k.phrase).join(', ');
}

/** The longest prefix of the ranking whose keywordText fits maxTokens. */
export function fitToTokens(keywords: readonly Keyword[], maxTokens: number): Keyword[] {
  let lo = 0;
  let hi = keywords.length;
  // Tokens grow with each added phrase, so the fitting prefix length can be binary searched.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (tokenCount(keywordText(keywords.slice(0, mid))) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return keywords.slice(0, lo);
}
