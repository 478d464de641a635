/** A client's spend, holds and budget, per period and per template. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import { nanoToUsd } from '../../core/money.ts';
import type { AppDeps, Env } from '../deps.ts';
import { assertOwnClient } from '../guards.ts';
import { ClientIdParam, errors, json, Loose } from '../schemas.ts';

export function registerUsageRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const client = (id: string) => {
    const c = d.registry.client(id);
    if (!c) throw new AllotError('NOT_FOUND', `No client ${id}`);
    return c;
  };
  const usd = (nano: number | null) => (nano === null ? null : nanoToUsd(nano));

  app.openapi(
    createRoute({
      method: 'get', path: '/api/usage/{clientId}', operationId: 'getUsage', tags: ['usage'], summary: 'Spend history per period and per template',
      request: { params: ClientIdParam, query: z.object({ period: z.string().regex(/^\d{4}-\d{2}$/).optional().openapi({ description: 'YYYY-MM; default all periods' }) }) },
      responses: { 200: json(Loose, 'Usage'), ...errors },
    }),
    async (c) => {
      const { clientId } = c.req.valid('param');
      assertOwnClient(c, clientId);
      const cl = client(clientId);
      const period = c.req.valid('query').period ?? null;
      const periods = (await d.store.listBudgets(clientId)).filter((b) => period === null || b.period === period);
      const byTemplate = await d.store.usageByTemplate(clientId, period);
      return c.json({
        client_id: clientId, tier: cl.tier, period,
        periods: periods.map((b) => ({ period: b.period, spent_usd: usd(b.spentNano), held_usd: usd(b.heldNano) })),
        by_template: byTemplate.map((u) => ({
          template: u.template, requests: u.requests, completed: u.completed, failed: u.failed,
          tokens: { input: u.inputTokens, output: u.outputTokens }, cost_usd: usd(u.costNano),
        })),
        total_cost_usd: usd(byTemplate.reduce((a, u) => a + u.costNano, 0)),
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/usage/{clientId}/current', operationId: 'getCurrentUsage', tags: ['usage'], summary: 'This period: spent, held, budget and remaining',
      request: { params: ClientIdParam }, responses: { 200: json(Loose, 'Current usage'), ...errors },
    }),
    async (c) => {
      const { clientId } = c.req.valid('param');
      assertOwnClient(c, clientId);
      const cl = client(clientId);
      const period = d.admission.currentPeriod();
      const b = await d.store.getBudget(clientId, period);
      const limit = d.admission.budgetLimitNano(cl);
      return c.json({
        client_id: clientId, tier: cl.tier, period,
        budget_usd: usd(limit), spent_usd: usd(b.spentNano), held_usd: usd(b.heldNano),
        remaining_usd: limit === null ? null : usd(Math.max(0, limit - b.spentNano - b.heldNano)),
        utilization: limit ? Number(((b.spentNano + b.heldNano) / limit).toFixed(4)) : null,
        running: d.scheduler.runningFor(clientId), max_concurrent: d.registry.maxConcurrent(cl),
      }, 200);
    },
  );
}
