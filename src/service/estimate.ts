/**
 * Admission estimate: what a request may use at most, and so what must be
 * reserved from buckets and held from the budget. The worst case is the
 * counted input tokens plus the full `max_tokens` the worker is allowed.
 */
import { usageCost } from '../core/cost.ts';
import { AllotError } from '../core/errors.ts';
import type { Estimate, TemplateDef } from '../model.ts';
import type { Registry } from './registry.ts';
import { inputText, type TokenCounter } from './tokenizer.ts';

export function estimateRequest(t: TemplateDef, input: unknown, maxTokens: number, reg: Registry, count: TokenCounter): Estimate {
  const resources: Record<string, number> = { ...t.resources };
  let inputTokens = 0;
  const model = t.model ? reg.modelResource(t.model) : undefined;
  if (t.model && !model) throw new AllotError('CONFLICT', `Template "${t.name}" names model "${t.model}", which no resource provides`);
  if (model) {
    inputTokens = count(inputText(input));
    resources[model.name] = (resources[model.name] ?? 0) + inputTokens + maxTokens;
  }
  for (const [name, amount] of Object.entries(resources)) {
    const r = reg.resources.get(name);
    if (!r) throw new AllotError('CONFLICT', `Template "${t.name}" needs resource "${name}", which is not configured`);
    if (amount > r.capacity) {
      throw new AllotError('VALIDATION_ERROR', `This request needs ${amount} ${r.unit}s of "${name}", more than its bucket can ever hold (${r.capacity}); shorten the input or lower max_tokens`, {
        details: { resource: name, needed: amount, capacity: r.capacity, input_tokens: inputTokens, max_tokens: maxTokens },
      });
    }
  }
  const { nano } = usageCost({ tokens: { input: inputTokens, output: model ? maxTokens : 0 }, resources: t.resources }, model?.price, reg.priceOf);
  return { inputTokens, maxOutputTokens: model ? maxTokens : 0, resources, maxCostNano: nano };
}
