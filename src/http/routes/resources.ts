/** Resource availability, checks and estimates; cost estimates and per-request cost. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { remaining } from '../../core/budget.ts';
import { AllotError } from '../../core/errors.ts';
import { nanoToUsd } from '../../core/money.ts';
import { refill, waitFor } from '../../core/token-bucket.ts';
import type { AppDeps, Env } from '../deps.ts';
import { visibleRequest } from '../guards.ts';
import { body, CheckBody, errors, EstimateBody, json, Loose, RequestIdParam } from '../schemas.ts';
import { estimateView, poolView } from '../views.ts';

export function registerResourceRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  /** Per resource: available now and how long until `amount` would be. */
  const availability = (needs: Record<string, number>) => {
    const levels = d.scheduler.bucketLevels();
    const out: Record<string, { requested: number; available: number; capacity: number; fits_now: boolean; wait_ms: number | null }> = {};
    for (const [name, amount] of Object.entries(needs)) {
      const r = d.registry.resources.get(name);
      const lv = levels.get(name);
      if (!r || !lv) throw new AllotError('VALIDATION_ERROR', `resources.${name}: no such resource (known: ${[...d.registry.resources.keys()].join(', ')})`);
      const now = d.clock.now();
      const w = waitFor(r, refill(r, { level: lv.level, updatedAt: now }, now), amount, now);
      out[name] = { requested: amount, available: Math.floor(lv.level), capacity: r.capacity, fits_now: lv.level >= amount, wait_ms: Number.isFinite(w) ? w : null };
    }
    return out;
  };

  app.openapi(
    createRoute({ method: 'get', path: '/api/resources/availability', operationId: 'getResourceAvailability', tags: ['resources'], summary: 'Every bucket: capacity, available, refill, price', responses: { 200: json(Loose, 'Availability'), ...errors } }),
    (c) => {
      const levels = d.scheduler.bucketLevels();
      const p = c.get('principal');
      // A pool of another client (its id, its name, what it has left) is that client's business: a client sees its own and the tiers'.
      const shown = (pool: { client: string | null }): boolean => p.kind !== 'client' || pool.client === null || pool.client === p.client.id;
      const resources = [...d.registry.resources.values()].map((r) => {
        const lv = levels.get(r.name);
        const available = lv ? Math.max(0, lv.level) : r.capacity;
        return {
          name: r.name, kind: r.kind, model: r.model ?? null, unit: r.unit, capacity: r.capacity, available: Math.floor(available),
          // Below 0 while a worker's overuse is repaid by refill (never below -capacity).
          level: Math.floor(lv ? lv.level : r.capacity),
          ...(r.kind === 'tokens' ? { tokenizer: r.tokenizer ?? null, input_overhead_tokens: r.inputOverheadTokens ?? 0 } : {}),
          refill_per_s: r.refillPerS, utilization: Number((1 - available / r.capacity).toFixed(4)),
          cost_per_unit_usd: r.price.costPerUnitUsd, input_cost_per_unit_usd: r.price.inputCostPerUnitUsd ?? null, output_cost_per_unit_usd: r.price.outputCostPerUnitUsd ?? null,
          pools: poolView(d, r.name).filter(shown),
        };
      });
      return c.json({ resources }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/api/resources/check', operationId: 'checkResources', tags: ['resources'], summary: 'Could these amounts be reserved now?', request: body(CheckBody), responses: { 200: json(Loose, 'Result'), ...errors } }),
    (c) => {
      const res = availability(c.req.valid('json').resources);
      const all = Object.values(res);
      return c.json({ available: all.every((x) => x.fits_now), wait_ms: Math.max(0, ...all.map((x) => x.wait_ms ?? Infinity)), resources: res }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/api/resources/estimate', operationId: 'estimateResources', tags: ['resources'], summary: 'What a request would need, and whether it fits now', request: body(EstimateBody), responses: { 200: json(Loose, 'Estimate'), ...errors } }),
    async (c) => {
      const p = c.get('principal');
      const { estimate, maxTokens, template } = await d.admission.estimate(c.req.valid('json'), p.kind === 'client' ? p.client.id : p.kind);
      const res = availability({ ...estimate.resources });
      return c.json({ template: template.name, max_tokens: maxTokens, estimate: estimateView(estimate), available: Object.values(res).every((x) => x.fits_now), resources: res }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/api/cost/estimate', operationId: 'estimateCost', tags: ['cost'], summary: 'Worst-case cost of a request and whether the budget covers it', request: body(EstimateBody), responses: { 200: json(Loose, 'Cost estimate'), ...errors } }),
    async (c) => {
      const p = c.get('principal');
      const { estimate, maxTokens, template } = await d.admission.estimate(c.req.valid('json'), p.kind === 'client' ? p.client.id : p.kind);
      let budget: Record<string, unknown> | null = null;
      if (p.kind === 'client') {
        const period = d.admission.currentPeriod();
        const row = await d.store.getBudget(p.client.id, period);
        const limit = d.admission.budgetLimitNano(p.client);
        const rem = remaining({ limit, spent: row.spentNano, held: row.heldNano });
        budget = { period, remaining_usd: Number.isFinite(rem) ? nanoToUsd(rem) : null, fits: estimate.maxCostNano <= rem };
      }
      const model = template.model ? d.registry.modelResource(template.model) : undefined;
      return c.json({
        template: template.name, model: template.model ?? null, max_tokens: maxTokens, input_tokens: estimate.inputTokens, input_overhead_tokens: estimate.inputOverheadTokens ?? 0,
        max_cost_usd: nanoToUsd(estimate.maxCostNano),
        input_cost_usd: model ? Number(((estimate.inputTokens + (estimate.inputOverheadTokens ?? 0)) * (model.price.inputCostPerUnitUsd ?? model.price.costPerUnitUsd)).toFixed(9)) : 0,
        budget,
      }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/cost/{requestId}', operationId: 'getRequestCost', tags: ['cost'], summary: 'What a request cost', request: { params: RequestIdParam }, responses: { 200: json(z.looseObject({ request_id: z.string(), cost_usd: z.number() }), 'Cost'), ...errors } }),
    async (c) => {
      const r = await visibleRequest(c, d.store, c.req.valid('param').requestId);
      return c.json({
        request_id: r.id, status: r.state, template: r.template, model: r.model ?? null, cost_usd: nanoToUsd(r.costNano), usage: r.usage,
        estimate: estimateView(r.estimate), final: r.state === 'COMPLETED' || r.state === 'FAILED' || r.state === 'CANCELLED',
      }, 200);
    },
  );
}
