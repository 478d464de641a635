/**
 * Cost of a usage record at resource prices. Prices are USD per unit; LLM
 * token resources may price input and output tokens separately.
 */
import type { Nano } from './money.ts';
import { usdToNano } from './money.ts';

export interface Price {
  readonly costPerUnitUsd: number;
  readonly inputCostPerUnitUsd?: number | undefined;
  readonly outputCostPerUnitUsd?: number | undefined;
}

export interface Usage {
  readonly tokens: { readonly input: number; readonly output: number };
  /** Other resources used, by resource name: `{ email: 3 }`. */
  readonly resources: Readonly<Record<string, number>>;
}

export const ZERO_USAGE: Usage = Object.freeze({ tokens: Object.freeze({ input: 0, output: 0 }), resources: Object.freeze({}) });

/** Two usages added up; an unknown one (null) adds nothing. */
export function sumUsage(a: Usage | null, b: Usage | null): Usage | null {
  if (!a) return b;
  if (!b) return a;
  const resources: Record<string, number> = { ...a.resources };
  for (const [k, v] of Object.entries(b.resources)) resources[k] = (resources[k] ?? 0) + v;
  return { tokens: { input: a.tokens.input + b.tokens.input, output: a.tokens.output + b.tokens.output }, resources };
}

export function tokenCostUsd(price: Price, input: number, output: number): number {
  const inP = price.inputCostPerUnitUsd ?? price.costPerUnitUsd;
  const outP = price.outputCostPerUnitUsd ?? price.costPerUnitUsd;
  return input * inP + output * outP;
}

/**
 * Cost in nano-USD: tokens at the model resource's price plus every other
 * resource at its own. Unknown resources are reported, not silently free.
 */
export function usageCost(
  usage: Usage,
  modelPrice: Price | undefined,
  priceOf: (resource: string) => Price | undefined,
): { nano: Nano; unknown: string[] } {
  let usd = modelPrice ? tokenCostUsd(modelPrice, usage.tokens.input, usage.tokens.output) : 0;
  const unknown: string[] = [];
  for (const [name, amount] of Object.entries(usage.resources)) {
    const p = priceOf(name);
    if (!p) unknown.push(name);
    else usd += amount * p.costPerUnitUsd;
  }
  return { nano: usdToNano(usd), unknown };
}
