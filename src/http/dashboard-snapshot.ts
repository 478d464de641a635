/**
 * What the dashboard shows, computed from the store and the scheduler: one
 * snapshot (GET /admin/dashboard, and each message of the push channel
 * GET /admin/dashboard/events), and the cost split by client, template or
 * model (GET /admin/dashboard/cost).
 */
import { nanoToUsd } from '../core/money.ts';
import { alertView } from '../service/alert-monitor.ts';
import type { WorkRequest } from '../model.ts';
import type { AppDeps } from './deps.ts';
import { poolView, workerHealthView } from './views.ts';

export const HOUR = 3_600_000;
/** Failed requests the snapshot lists, newest first. */
const FAILED_SHOWN = 20;
/** Ended requests the cost split reads at most (newest first); the answer says when it stopped there. */
export const SPLIT_SCAN_LIMIT = 20_000;

/** The first hour of a window of `hours` whole hours ending with the current one. */
export const windowStart = (now: number, hours: number): number => Math.floor((now - hours * HOUR) / HOUR) * HOUR + HOUR;

export async function dashboardSnapshot(d: AppDeps, hours: number) {
  const now = d.clock.now();
  const period = d.admission.currentPeriod();
  const since = windowStart(now, hours);
  const [states, alertsNow, cost, live, failed, migration] = await Promise.all([
    d.store.countByState(),
    d.alerts.check(),
    d.store.costOverTime(since, HOUR),
    d.store.listRequests({ states: ['RUNNING', 'PREPARING', 'PENDING', 'WAITING_RETRY'], limit: 50 }),
    d.store.listRequests({ states: ['FAILED'], limit: FAILED_SHOWN }),
    d.migration.status(),
  ]);
  const clientName = (id: string): string | null => d.registry.client(id)?.name ?? null;
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
  return {
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
      request_id: r.id, client_id: r.clientId, client_name: clientName(r.clientId), template: r.template, status: r.state, system: r.system ?? 'allot',
      progress: r.progress ? { percent: r.progress.percent, message: r.progress.message ?? null } : null,
      queue_position: r.state === 'PENDING' ? (d.scheduler.position(r.id) ?? null) : null,
      stages: r.pipeline ? r.pipeline.stages.map((s) => ({ worker: s.worker, status: s.state })) : null,
      created_at: new Date(r.createdAt).toISOString(), started_at: r.startedAt === null ? null : new Date(r.startedAt).toISOString(),
    })),
    failed: failed.map((r) => ({
      request_id: r.id, client_id: r.clientId, client_name: clientName(r.clientId), template: r.template, attempts: r.attempts,
      error: r.error ? { code: r.error.code, message: r.error.message } : null, cost_usd: nanoToUsd(r.costNano),
      failed_at: r.completedAt === null ? null : new Date(r.completedAt).toISOString(),
    })),
    workers: d.registry.workers().map((w) => {
      const h = d.health.view(w.name);
      return { name: w.name, transport: w.transport, running: d.scheduler.runningOnWorker(w.name), max_concurrency: w.maxConcurrency, health: h ? workerHealthView(h) : null };
    }),
    migration,
  };
}

export type CostSplitBy = 'client' | 'template' | 'model';

/**
 * Cost per hour of the requests that ended in the window, one series per
 * client, template or model, from the requests themselves (newest first, at
 * most SPLIT_SCAN_LIMIT of them: `complete` says whether the window was read
 * to its start). Series are sorted by their total, largest first.
 */
export async function costSplit(d: AppDeps, hours: number, by: CostSplitBy) {
  const now = d.clock.now();
  const since = windowStart(now, hours);
  const series = new Map<string, { key: string; label: string; points: number[]; total: number }>();
  const keyOf = (r: WorkRequest): [string, string] => {
    if (by === 'client') return [r.clientId, d.registry.client(r.clientId)?.name ?? r.clientId];
    if (by === 'template') return [r.template, r.template];
    return [r.model ?? '(none)', r.model ?? '(none)'];
  };
  const page = 1000;
  let before: string | undefined;
  let scanned = 0;
  let complete = false;
  // Requests are listed by creation, newest first; one created before the window may end inside it,
  // so reading stops only a day before the window (or at the scan limit).
  while (scanned < SPLIT_SCAN_LIMIT) {
    const rows = await d.store.listRequests({ states: ['COMPLETED', 'FAILED', 'CANCELLED'], limit: page, before, includeShadow: true });
    scanned += rows.length;
    for (const r of rows) {
      if (r.completedAt === null || r.completedAt < since || r.costNano === 0) continue;
      const [key, label] = keyOf(r);
      let s = series.get(key);
      if (!s) series.set(key, (s = { key, label, points: Array.from({ length: hours }, () => 0), total: 0 }));
      const i = Math.floor((r.completedAt - since) / HOUR);
      if (i >= 0 && i < hours) {
        s.points[i] = (s.points[i] ?? 0) + r.costNano;
        s.total += r.costNano;
      }
    }
    const last = rows.at(-1);
    if (rows.length < page || !last || last.createdAt < since - 24 * HOUR) {
      complete = true;
      break;
    }
    before = last.id;
  }
  return {
    by, hours: Array.from({ length: hours }, (_, i) => new Date(since + i * HOUR).toISOString()), complete,
    series: [...series.values()].toSorted((a, b) => b.total - a.total).map((s) => ({ key: s.key, label: s.label, total_usd: nanoToUsd(s.total), cost_usd: s.points.map(nanoToUsd) })),
  };
}
