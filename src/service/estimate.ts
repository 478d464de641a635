/**
 * Admission estimate: what a request may use at most, and so what must be
 * reserved from buckets and held from the budget. The worst case is the
 * input tokens a provider bills (the text counted in the model's encoding,
 * plus the resource's `input_overhead_tokens` for chat formatting) plus the
 * full `max_tokens` the worker is allowed. A pipeline of n stages may call
 * the model n times: each later stage reads at most what the one before
 * wrote (`max_tokens`, plus the overhead) and writes `max_tokens`, and its
 * other resources are needed once per stage. Resources a worker
 * declared at its v2 handshake are reserved too, where they exceed what the
 * template names.
 */
import { usageCost } from '../core/cost.ts';
import { AllotError } from '../core/errors.ts';
import type { Estimate, Resource, TemplateDef } from '../model.ts';
import type { Registry } from './registry.ts';

/** The token resource a template's model draws from (throws CONFLICT when no resource provides it). */
export function modelOf(t: TemplateDef, reg: Registry): Resource | undefined {
  const model = t.model ? reg.modelResource(t.model) : undefined;
  if (t.model && !model) throw new AllotError('CONFLICT', `Template "${t.name}" names model "${t.model}", which no resource provides`);
  return model;
}

/**
 * `counted`: the input text's tokens in the model's encoding (0 when the
 * template has no model, or for a lower bound before counting).
 */
export function estimateRequest(t: TemplateDef, counted: number, maxTokens: number, reg: Registry): Estimate {
  const n = t.stages?.length ?? 1;
  const other: Record<string, number> = Object.fromEntries(Object.entries(t.resources).map(([k, v]) => [k, v * n]));
  // What the template's workers declared they use per job (v2 handshakes), where more than the template says.
  const declared: Record<string, number> = {};
  for (const w of t.stages ? t.stages.map((s) => s.worker) : [t.worker]) {
    for (const [name, amount] of Object.entries(reg.requirementsOf(w))) declared[name] = (declared[name] ?? 0) + amount;
  }
  for (const [name, amount] of Object.entries(declared)) other[name] = Math.max(other[name] ?? 0, amount);
  const resources: Record<string, number> = { ...other };
  const model = modelOf(t, reg);
  const inputTokens = model ? counted : 0;
  const overhead = model?.inputOverheadTokens ?? 0;
  // Billed input over all stages: the text once, each later stage the one before's output, each call its overhead.
  const worstInput = model ? inputTokens + n * overhead + (n - 1) * maxTokens : 0;
  const worstOutput = model ? n * maxTokens : 0;
  if (model) resources[model.name] = (resources[model.name] ?? 0) + worstInput + worstOutput;
  for (const [name, amount] of Object.entries(resources)) {
    const r = reg.resources.get(name);
    if (!r) throw new AllotError('CONFLICT', `Template "${t.name}" needs resource "${name}", which is not configured`);
    if (amount > r.capacity) {
      throw new AllotError('VALIDATION_ERROR', `This request needs ${amount} ${r.unit}s of "${name}", more than its bucket can ever hold (${r.capacity}); shorten the input or lower max_tokens`, {
        details: { resource: name, needed: amount, capacity: r.capacity, input_tokens: inputTokens, input_overhead_tokens: n * overhead, max_tokens: maxTokens },
      });
    }
  }
  const { nano } = usageCost({ tokens: { input: worstInput, output: worstOutput }, resources: other }, model?.price, reg.priceOf);
  return { inputTokens, ...(model ? { inputOverheadTokens: n * overhead } : {}), maxOutputTokens: worstOutput, resources, maxCostNano: nano };
}
