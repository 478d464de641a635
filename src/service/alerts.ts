/**
 * The alert conditions of SPEC section 8 as they hold now: pool below 10%
 * available, client budget above 95%, queue above 1,000 requests, a request
 * waiting over 10 minutes, a worker out of rotation (unhealthy or timing
 * out); and a worker that reported usage beyond what its jobs allowed in the
 * last OVERUSE_WINDOW_MS. Their firing/resolved history is alert-monitor.ts's.
 */
import type { AlertCondition } from '../core/alert-state.ts';
import type { AppDeps } from '../http/deps.ts';

export type Alert = AlertCondition;

/** A worker_overuse alert holds while the worker's last overuse is this recent (the default). */
export const OVERUSE_WINDOW_MS = 15 * 60_000;

/** When each kind of alert fires (config `alerts.thresholds`). */
export interface AlertThresholds {
  /** pool_low: a pool with less than this share of its capacity available. */
  readonly poolLowBelow: number;
  /** budget_high: a client that has used (spent + held) more than this share of its budget (critical from 1). */
  readonly budgetHighAbove: number;
  /** queue_backup: more requests than this queued. */
  readonly queueBackupAbove: number;
  /** request_starving: a request waiting longer than this, ms. */
  readonly starvingAfterMs: number;
  /** worker_overuse: holds while the worker's last overuse is this recent, ms. */
  readonly overuseWindowMs: number;
}

/** SPEC section 8's: pool below 10% available, budget above 95%, queue above 1,000, a wait over 10 minutes. */
export const DEFAULT_THRESHOLDS: AlertThresholds = Object.freeze({
  poolLowBelow: 0.1, budgetHighAbove: 0.95, queueBackupAbove: 1000, starvingAfterMs: 10 * 60_000, overuseWindowMs: OVERUSE_WINDOW_MS,
});

export async function alerts(d: Pick<AppDeps, 'scheduler' | 'registry' | 'store' | 'admission' | 'health' | 'clock'>, t: AlertThresholds = DEFAULT_THRESHOLDS): Promise<Alert[]> {
  const out: Alert[] = [];
  for (const [name, b] of d.scheduler.bucketLevels()) {
    const ratio = Math.max(0, b.level) / b.capacity;
    if (ratio < t.poolLowBelow) out.push({ kind: 'pool_low', severity: 'warning', subject: name, message: `${name} has ${(ratio * 100).toFixed(1)}% available`, value: ratio });
  }
  const period = d.admission.currentPeriod();
  for (const c of d.registry.clients()) {
    const limit = d.admission.budgetLimitNano(c);
    if (!limit) continue;
    const b = await d.store.getBudget(c.id, period);
    const used = (b.spentNano + b.heldNano) / limit;
    if (used > t.budgetHighAbove) out.push({ kind: 'budget_high', severity: used >= 1 ? 'critical' : 'warning', subject: c.id, message: `${c.name} has used ${(used * 100).toFixed(1)}% of its ${period} budget`, value: used });
  }
  if (d.scheduler.queueDepth > t.queueBackupAbove) out.push({ kind: 'queue_backup', severity: 'warning', subject: 'queue', message: `${d.scheduler.queueDepth} requests queued`, value: d.scheduler.queueDepth });
  for (const [level, s] of Object.entries(d.scheduler.queueStats())) {
    if (s.oldestWaitMs > t.starvingAfterMs) out.push({ kind: 'request_starving', severity: 'warning', subject: level, message: `A ${level} request has waited ${(s.oldestWaitMs / 60_000).toFixed(1)} minutes`, value: s.oldestWaitMs });
  }
  for (const w of d.registry.workers()) {
    const h = d.health.view(w.name);
    if (!h || h.breaker === 'closed') continue;
    const why = h.lastError ? `: ${h.lastError}` : '';
    const when = h.reopensAt === null ? 'a trial is due' : `next trial at ${new Date(h.reopensAt).toISOString()}`;
    out.push({ kind: 'worker_unhealthy', severity: 'critical', subject: w.name, message: `Worker ${w.name} is out of rotation (circuit breaker ${h.breaker}, ${when})${why}`, value: Math.max(h.consecutiveFailures, h.dispatchFailures) });
  }
  const byWorker = new Map<string, { count: number; latest: Awaited<ReturnType<typeof d.store.listOveruse>>[number] }>();
  for (const o of await d.store.listOveruse(d.clock.now() - t.overuseWindowMs)) {
    for (const w of o.overuse.workers) {
      const cur = byWorker.get(w);
      if (cur) cur.count++;
      else byWorker.set(w, { count: 1, latest: o });
    }
  }
  for (const [w, { count, latest }] of byWorker) {
    const o = latest.overuse;
    const what = [
      ...(o.outputTokens ? [`${o.outputTokens.reported} output tokens of ${o.outputTokens.allowed} allowed`] : []),
      ...Object.entries(o.resources).map(([r, u]) => `${u.used} ${r} of ${u.reserved} reserved`),
    ].join(', ');
    out.push({
      kind: 'worker_overuse', severity: 'warning', subject: w, value: count,
      message: `Worker ${w} reported usage beyond what its jobs allowed ${count === 1 ? 'once' : `${count} times`} in the last ${t.overuseWindowMs / 60_000} minutes (charged as reported; latest: request ${latest.requestId}, ${what})`,
    });
  }
  return out;
}
