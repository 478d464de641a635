/** What the optimizer saved a client (the savings ledger). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AllotError } from '../../core/errors.ts';
import { nanoToUsd } from '../../core/money.ts';
import type { AppDeps, Env } from '../deps.ts';
import { assertOwnClient } from '../guards.ts';
import { analyze, type Analysis } from '../../service/analysis.ts';
import { body, ClientIdParam, errors, json, Loose } from '../schemas.ts';

const view = (a: Analysis) => ({
  client_id: a.clientId, since: new Date(a.since).toISOString(), requests_analyzed: a.requestsAnalyzed, truncated: a.truncated,
  would_save_usd: Number(a.findings.reduce((x, f) => x + f.wouldSaveUsd, 0).toFixed(9)),
  findings: a.findings.map((f) => ({ strategy: f.strategy, template: f.template, requests: f.requests, affected: f.affected, would_save_usd: f.wouldSaveUsd, message: f.message })),
});

const AnalyzeBody = z
  .strictObject({
    client_id: z.string().min(1).optional().openapi({ description: 'Default: the calling client' }),
    since: z.string().datetime().optional().openapi({ description: 'ISO time; default 7 days ago' }),
  })
  .openapi('Analyze');

export function registerOptimizeRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  const week = () => d.clock.now() - 7 * 86_400_000;
  const client = (id: string) => {
    if (!d.registry.client(id)) throw new AllotError('NOT_FOUND', `No client ${id}`);
    return id;
  };

  app.openapi(
    createRoute({
      method: 'post', path: '/api/optimize/analyze', operationId: 'analyzeOptimizations', tags: ['optimize'], summary: "What each strategy would have saved, from the client's real history",
      request: body(AnalyzeBody), responses: { 200: json(Loose, 'Analysis'), ...errors },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const p = c.get('principal');
      const id = b.client_id ?? (p.kind === 'client' ? p.client.id : undefined);
      if (!id) throw new AllotError('VALIDATION_ERROR', 'client_id: required with the admin key');
      assertOwnClient(c, id);
      return c.json(view(await analyze(d.store, d.registry, client(id), b.since ? Date.parse(b.since) : week())), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/optimize/recommendations/{clientId}', operationId: 'getRecommendations', tags: ['optimize'], summary: 'Recommendations, largest saving first, from the last 7 days',
      request: { params: ClientIdParam }, responses: { 200: json(Loose, 'Recommendations'), ...errors },
    }),
    async (c) => {
      const { clientId } = c.req.valid('param');
      assertOwnClient(c, clientId);
      const a = view(await analyze(d.store, d.registry, client(clientId), week()));
      return c.json({ client_id: clientId, since: a.since, recommendations: a.findings.map((f) => ({ ...f, recommendation: f.message })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/api/optimize/stats/{clientId}', operationId: 'getOptimizationStats', tags: ['optimize'],
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
