/**
 * Token counting with a real BPE tokenizer (gpt-tokenizer, cl100k_base: the
 * encoding of GPT-4 and GPT-3.5). A character heuristic would be off by 20-50%
 * on code and non-English text, and the budget hold depends on it.
 */
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';

export type TokenCounter = (text: string) => number;

export const countTokens: TokenCounter = (text) => (text.length === 0 ? 0 : cl100k(text));

/**
 * The text a model would read from a request input: every string leaf (and
 * number/boolean, stringified), in document order, one per line. Keys are
 * structure, not prompt, and are not counted.
 */
export function inputText(input: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (typeof v === 'number' || typeof v === 'boolean') parts.push(String(v));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(input);
  return parts.join('\n');
}
