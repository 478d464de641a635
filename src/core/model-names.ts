/**
 * What a model's name tells about how a provider counts its input: the BPE
 * encoding it reads text in, and the tokens it bills per request beyond the
 * text. Pure: names in, answers out.
 */
import type { Encoding } from '../model.ts';

/**
 * The encoding a model reads text in, by its name: OpenAI's current families
 * (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, chatgpt-4o) use o200k_base;
 * gpt-4, gpt-3.5 and the text-embedding models cl100k_base; the old
 * completion models p50k_base or r50k_base. Other vendors' models have no
 * public encoding here: o200k_base (gpt-tokenizer's default for new models)
 * is the estimate, and the resource can name another.
 */
export function encodingForModel(model: string): Encoding {
  const m = model.toLowerCase().replace(/^(openai|azure)[./:]/, '');
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[134](-|$)|gpt-oss|codex-mini)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-(3|ada-002))/.test(m)) return 'cl100k_base';
  if (/^(text-davinci-00[23]|code-davinci|code-cushman|davinci-codex|cushman-codex)/.test(m)) return 'p50k_base';
  if (/^(davinci|curie|babbage|ada|text-(ada|babbage|curie|davinci)-001|text-similarity|text-search|code-search)/.test(m)) return 'r50k_base';
  return 'o200k_base';
}

/**
 * Tokens a chat model bills per request beyond the message text (OpenAI's
 * documented chat format: 3 per message, 1 for the role, 3 to prime the
 * reply). Embedding and old completion models bill the text alone.
 */
export function defaultInputOverhead(model: string): number {
  return /(embedding|davinci|curie|babbage|(^|[-.])ada($|-)|instruct|text-similarity|text-search|code-search)/i.test(model) ? 0 : 7;
}
