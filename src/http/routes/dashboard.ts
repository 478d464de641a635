/**
 * The operator dashboard (SPEC section 8): `GET /dashboard` serves a static
 * page (src/http/dashboard/, plain HTML, CSS and JS, no build step) that asks
 * for the admin key and then follows `GET /admin/dashboard/events`
 * (src/http/routes/dashboard-events.ts), which pushes the snapshot that
 * `GET /admin/dashboard` answers whenever something changes: queues, pools,
 * budgets, cost over time, alerts, live and failed requests, workers, the
 * migration's progress. `GET /admin/dashboard/cost` splits the cost by
 * client, template or model.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps, Env } from '../deps.ts';
import { costSplit, dashboardSnapshot } from '../dashboard-snapshot.ts';
import { errors, json, Loose } from '../schemas.ts';

export const HoursQuery = z.coerce.number().int().min(1).max(24 * 31).optional().openapi({ description: 'Cost over this many hours, per hour (default 24)' });

export function registerDashboardRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  for (const [path, f] of d.dashboardAssets) {
    app.get(path, (c) => c.body(f.body, 200, { 'content-type': f.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }));
  }

  app.openapi(
    createRoute({
      method: 'get', path: '/admin/dashboard', operationId: 'getDashboard', tags: ['admin'], summary: 'One snapshot of what the dashboard shows: queues, pools, budgets, cost over time, alerts, live and failed requests, workers, migration',
      request: { query: z.object({ hours: HoursQuery }) },
      responses: { 200: json(Loose, 'Snapshot'), ...errors },
    }),
    async (c) => c.json(await dashboardSnapshot(d, c.req.valid('query').hours ?? 24), 200),
  );

  const CostSplit = z
    .object({
      by: z.enum(['client', 'template', 'model']),
      hours: z.array(z.string()).openapi({ description: 'Start of each hour, oldest first' }),
      complete: z.boolean().openapi({ description: 'false: more requests ended in the window than were read (20,000 at most); the series are a lower bound' }),
      series: z.array(z.object({ key: z.string(), label: z.string(), total_usd: z.number(), cost_usd: z.array(z.number()).openapi({ description: 'Per hour, as `hours`' }) })),
    })
    .openapi('DashboardCostSplit');
  app.openapi(
    createRoute({
      method: 'get', path: '/admin/dashboard/cost', operationId: 'getDashboardCost', tags: ['admin'],
      summary: 'Cost per hour of the requests that ended in the window, one series per client, template or model (largest first)',
      request: { query: z.object({ hours: HoursQuery, by: z.enum(['client', 'template', 'model']).optional().openapi({ description: 'default client' }) }) },
      responses: { 200: json(CostSplit, 'Series'), ...errors },
    }),
    async (c) => {
      const q = c.req.valid('query');
      return c.json(await costSplit(d, q.hours ?? 24, q.by ?? 'client'), 200);
    },
  );
}
