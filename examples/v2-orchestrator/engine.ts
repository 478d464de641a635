// The work the Orchestrator v2 stand-in does for each template: the same processing the example
// workers do (summarizer, keywords), so that Allot and "v2" agree unless told not to.
import { extractKeywords, fitToTokens, keywordText, tokenCount as keywordTokens } from '../keywords/rake.ts';
import { summarize, tokenCount } from '../summarizer/summarize.ts';

export interface WorkResult {
  readonly output: unknown;
  readonly tokens: { readonly input: number; readonly output: number };
}

export class InvalidInput extends Error {}

type Template = (input: Record<string, unknown>, parameters: Record<string, unknown>) => WorkResult;

const maxTokensOf = (p: Record<string, unknown>): number | undefined => (typeof p.max_tokens === 'number' ? p.max_tokens : undefined);

const intIn = (v: unknown, fallback: number, name: string): number => {
  const n = v ?? fallback;
  if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > 1000) throw new InvalidInput(`input.${name} must be an integer between 1 and 1000`);
  return n as number;
};

const text = (input: Record<string, unknown>): string => {
  if (typeof input.text !== 'string') throw new InvalidInput('input.text must be a string');
  return input.text;
};

export const TEMPLATES: Readonly<Record<string, Template>> = {
  summarize(input, parameters) {
    const t = text(input);
    const result = summarize(t, intIn(input.sentences, 3, 'sentences'), maxTokensOf(parameters));
    return { output: result, tokens: { input: tokenCount(t), output: tokenCount(result.summary) } };
  },
  keywords(input, parameters) {
    const t = text(input);
    let keywords = extractKeywords(t, intIn(input.limit, 10, 'limit'));
    const max = maxTokensOf(parameters);
    if (max !== undefined) keywords = fitToTokens(keywords, max);
    return { output: { keywords }, tokens: { input: keywordTokens(t), output: keywordTokens(keywordText(keywords)) } };
  },
  echo(input) {
    return { output: input, tokens: { input: 0, output: 0 } };
  },
};

/** The deliberately different answer shadow-mode tests look for. */
export function mutate(output: unknown): unknown {
  return output && typeof output === 'object' && !Array.isArray(output) ? { ...output, engine: 'orchestrator-v2' } : { value: output, engine: 'orchestrator-v2' };
}
