/** What the optimizer saved a client (the savings ledger). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import { nanoToUsd } from '../../core/money.ts';
import type { AppDeps, Env } from '../deps.ts';
import { assertOwnClient } from '../guards.ts';
import { ClientIdParam, errors, json, Loose } from '../schemas.ts';

export function registerOptimizeRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'get', path: '/api/optimize/stats/{clientId}', tags: ['optimize'],
      summary: 'Savings per strategy and template against running each request as submitted',
      request: {
        params: ClientIdParam,
        query: z.object({ since: z.string().datetime().optional().openapi({ description: 'ISO time; default 30 days ago' }) }),
      },
      responses: { 200: json(Loose, 'Savings'), ...errors },
    }),
    async (c) => {
      const { clientId } = c.req.valid('param');
      assertOwnClient(c, clientId);
      if (!d.registry.client(clientId)) throw new AllotError('NOT_FOUND', `No client ${clientId}`);
      const since = c.req.valid('query').since ? Date.parse(c.req.valid('query').since as string) : d.clock.now() - 30 * 86_400_000;
      const rows = await d.store.savingsSummary(clientId, since);
      const strategies: Record<string, { requests: number; saved_usd: number; calls_saved: number; bytes_saved: number; by_template: Record<string, number> }> = {};
      let total = 0;
      for (const r of rows) {
        const s = (strategies[r.strategy] ??= { requests: 0, saved_usd: 0, calls_saved: 0, bytes_saved: 0, by_template: {} });
        s.requests += r.count;
        s.saved_usd = nanoToUsd(Math.round(s.saved_usd * 1e9) + r.usdNano);
        s.calls_saved += r.calls;
        s.bytes_saved += r.bytes;
        s.by_template[r.template] = nanoToUsd(r.usdNano);
        total += r.usdNano;
      }
      return c.json({ client_id: clientId, since: new Date(since).toISOString(), total_saved_usd: nanoToUsd(total), strategies }, 200);
    },
  );
}
