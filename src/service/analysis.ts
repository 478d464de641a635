/**
 * What each optimization would have saved a client, from its real history
 * (SPEC section 5: /api/optimize/analyze and /recommendations). Looks at the
 * client's completed requests in a window and prices what would have changed:
 * - caching: requests that exactly repeated an earlier one (same template,
 *   normalized input, parameters, model, max_tokens) within an hour, on
 *   templates without a cache, would have cost nothing;
 * - downgrade: requests that ran on a template's primary model would have
 *   cost their usage at the first fallback model's price;
 * - off-peak: low-urgency requests of templates that do not defer them.
 */
import { usageCost } from '../core/cost.ts';
import { nanoToUsd } from '../core/money.ts';
import type { WorkRequest } from '../model.ts';
import type { Store } from '../store/store.ts';
import { cacheKey } from './ids.ts';
import type { Registry } from './registry.ts';

const HOUR = 3_600_000;

export interface StrategyAnalysis {
  readonly strategy: 'cache' | 'downgrade' | 'offpeak';
  readonly template: string;
  readonly requests: number;
  readonly affected: number;
  readonly wouldSaveUsd: number;
  readonly message: string;
}

export interface Analysis {
  readonly clientId: string;
  readonly since: number;
  readonly requestsAnalyzed: number;
  readonly truncated: boolean;
  readonly findings: StrategyAnalysis[];
}

/** At most this many of the newest requests are read. */
export const ANALYSIS_LIMIT = 10_000;

export async function analyze(store: Store, registry: Registry, clientId: string, since: number): Promise<Analysis> {
  const all = await store.listRequests({ clientId, states: ['COMPLETED'], limit: ANALYSIS_LIMIT });
  const reqs = all.filter((r) => r.createdAt >= since).toSorted((a, b) => a.createdAt - b.createdAt);
  const byTemplate = new Map<string, WorkRequest[]>();
  for (const r of reqs) byTemplate.set(r.template, [...(byTemplate.get(r.template) ?? []), r]);
  const findings: StrategyAnalysis[] = [];
  const pct = (a: number, b: number): string => `${Math.round((100 * a) / Math.max(1, b))}%`;

  for (const [name, list] of byTemplate) {
    const t = registry.template(name);
    // Caching: exact repeats within an hour of an earlier identical request.
    if (!t || t.cacheTtlS === 0) {
      const lastSeen = new Map<string, number>();
      let repeats = 0;
      let nano = 0;
      for (const r of list) {
        if (r.optimization?.cache?.hit) continue;
        const key = cacheKey(r.template, r.input, r.parameters, r.model, r.maxTokens);
        const prev = lastSeen.get(key);
        if (prev !== undefined && r.createdAt - prev <= HOUR) {
          repeats++;
          nano += r.costNano;
        }
        lastSeen.set(key, r.createdAt);
      }
      if (repeats > 0) {
        findings.push({
          strategy: 'cache', template: name, requests: list.length, affected: repeats, wouldSaveUsd: nanoToUsd(nano),
          message: `${pct(repeats, list.length)} of the requests to template ${name} were exact repeats within 1 hour: caching would have saved $${nanoToUsd(nano).toFixed(2)}`,
        });
      }
    }
    // Downgrade: what requests on the primary model would have cost on the first fallback.
    if (t && t.fallbackModels.length > 0 && !t.critical && t.model) {
      const fallback = registry.modelResource(t.fallbackModels[0] as string);
      let n = 0;
      let nano = 0;
      for (const r of list) {
        if (r.optimization?.downgrade || r.urgency === 'critical' || !r.usage || !fallback) continue;
        const cheaper = usageCost(r.usage, fallback.price, registry.priceOf).nano;
        if (cheaper < r.costNano) {
          n++;
          nano += r.costNano - cheaper;
        }
      }
      if (n > 0) {
        findings.push({
          strategy: 'downgrade', template: name, requests: list.length, affected: n, wouldSaveUsd: nanoToUsd(nano),
          message: `${n} requests to template ${name} ran on ${t.model}; on ${t.fallbackModels[0]} they would have cost $${nanoToUsd(nano).toFixed(2)} less (lower downgrade.budget_threshold or max_wait_ms to move more)`,
        });
      }
    }
    // Off-peak: low-urgency work that ran at once.
    if (!t || !t.offpeak.allowed) {
      const low = list.filter((r) => r.urgency === 'low').length;
      if (low > 0) {
        findings.push({
          strategy: 'offpeak', template: name, requests: list.length, affected: low, wouldSaveUsd: 0,
          message: `${low} low-urgency requests to template ${name} ran at once; offpeak.allowed would move them off peak (prices do not differ by time, so no dollars are saved, but peak capacity is)`,
        });
      }
    }
  }
  findings.sort((a, b) => b.wouldSaveUsd - a.wouldSaveUsd || b.affected - a.affected);
  return { clientId, since, requestsAnalyzed: reqs.length, truncated: all.length >= ANALYSIS_LIMIT, findings };
}
