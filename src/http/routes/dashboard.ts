/**
 * The operator dashboard (SPEC section 8): `GET /dashboard` serves a static
 * page (src/http/dashboard/, plain HTML, CSS and JS, no build step) that asks
 * for the admin key and then polls `GET /admin/dashboard`, one snapshot of
 * everything it shows: queues, pools, budgets, cost over time, alerts, live
 * requests with their progress, workers, and the migration's progress.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { nanoToUsd } from '../../core/money.ts';
import { alertView } from '../../service/alert-monitor.ts';
import type { AppDeps, Env } from '../deps.ts';
import { errors, json, Loose } from '../schemas.ts';
import { poolView, workerHealthView } from '../views.ts';

const HOUR = 3_600_000;

export function registerDashboardRoutes(app: OpenAPIHono<Env>, d: AppDeps): void {
  for (const [path, f] of d.dashboardAssets) {
    app.get(path, (c) => c.body(f.body, 200, { 'content-type': f.type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }));
  }

  app.openapi(
    createRoute({
      method: 'get', path: '/admin/dashboard', operationId: 'getDashboard', tags: ['admin'], summary: 'One snapshot of what the dashboard shows: queues, pools, budgets, cost over time, alerts, live requests, workers, migration',
      request: { query: z.object({ hours: z.coerce.number().int().min(1).max(24 * 31).optional().openapi({ description: 'Cost over this many hours, per hour (default 24)' }) }) },
      responses: { 200: json(Loose, 'Snapshot'), ...errors },
    }),
    async (c) => {
      const now = d.clock.now();
      const hours = c.req.valid('query').hours ?? 24;
      const period = d.admission.currentPeriod();
      const since = Math.floor((now - hours * HOUR) / HOUR) * HOUR + HOUR;
      const [states, alertsNow, cost, live, migration] = await Promise.all([
        d.store.countByState(),
        d.alerts.check(),
        d.store.costOverTime(since, HOUR),
        d.store.listRequests({ states: ['RUNNING', 'PREPARING', 'PENDING', 'WAITING_RETRY'], limit: 50 }),
        d.migration.status(),
      ]);
      const budgets = [];
      for (const cl of d.registry.clients()) {
        const b = await d.store.getBudget(cl.id, period);
        const limit = d.admission.budgetLimitNano(cl);
        budgets.push({
          client_id: cl.id, name: cl.name, tier: cl.tier, period, spent_usd: nanoToUsd(b.spentNano), held_usd: nanoToUsd(b.heldNano),
          budget_usd: limit === null ? null : nanoToUsd(limit), used: limit ? Number(((b.spentNano + b.heldNano) / limit).toFixed(4)) : null,
        });
      }
      const byHour = new Map(cost.map((x) => [x.at, x]));
      const levels = d.scheduler.bucketLevels();
      return c.json({
        at: new Date(now).toISOString(),
        scheduler: d.scheduler.paused ? 'paused' : 'running',
        queues: { depth: d.scheduler.queueDepth, running: d.scheduler.runningCount, waiting_retry: d.scheduler.waitingRetries(), levels: d.scheduler.queueStats(), states },
        resources: [...d.registry.resources.values()].map((r) => {
          const b = levels.get(r.name);
          return { name: r.name, unit: r.unit, capacity: r.capacity, available: b ? Math.floor(Math.max(0, b.level)) : null, pools: poolView(d, r.name) };
        }),
        budgets,
        cost: Array.from({ length: hours }, (_, i) => {
          const at = since + i * HOUR;
          const x = byHour.get(at);
          return { hour: new Date(at).toISOString(), cost_usd: nanoToUsd(x?.costNano ?? 0), requests: x?.requests ?? 0 };
        }),
        alerts: alertsNow.map(alertView),
        requests: live.map((r) => ({
          request_id: r.id, client_id: r.clientId, template: r.template, status: r.state, system: r.system ?? 'allot',
          progress: r.progress ? { percent: r.progress.percent, message: r.progress.message ?? null } : null,
          stages: r.pipeline ? r.pipeline.stages.map((s) => ({ worker: s.worker, status: s.state })) : null,
          created_at: new Date(r.createdAt).toISOString(), started_at: r.startedAt === null ? null : new Date(r.startedAt).toISOString(),
        })),
        workers: d.registry.workers().map((w) => {
          const h = d.health.view(w.name);
          return { name: w.name, transport: w.transport, running: d.scheduler.runningOnWorker(w.name), max_concurrency: w.maxConcurrency, health: h ? workerHealthView(h) : null };
        }),
        migration,
      }, 200);
    },
  );
}
