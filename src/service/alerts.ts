/**
 * The alert conditions of SPEC section 8 as they hold now: pool below 10%
 * available, client budget above 95%, queue above 1,000 requests, a request
 * waiting over 10 minutes, a worker out of rotation (unhealthy or timing
 * out). Their firing/resolved history is alert-monitor.ts's.
 */
import type { AlertCondition } from '../core/alert-state.ts';
import type { AppDeps } from '../http/deps.ts';

export type Alert = AlertCondition;

export async function alerts(d: Pick<AppDeps, 'scheduler' | 'registry' | 'store' | 'admission' | 'health'>): Promise<Alert[]> {
  const out: Alert[] = [];
  for (const [name, b] of d.scheduler.bucketLevels()) {
    const ratio = Math.max(0, b.level) / b.capacity;
    if (ratio < 0.1) out.push({ kind: 'pool_low', severity: 'warning', subject: name, message: `${name} has ${(ratio * 100).toFixed(1)}% available`, value: ratio });
  }
  const period = d.admission.currentPeriod();
  for (const c of d.registry.clients()) {
    const limit = d.admission.budgetLimitNano(c);
    if (!limit) continue;
    const b = await d.store.getBudget(c.id, period);
    const used = (b.spentNano + b.heldNano) / limit;
    if (used > 0.95) out.push({ kind: 'budget_high', severity: used >= 1 ? 'critical' : 'warning', subject: c.id, message: `${c.name} has used ${(used * 100).toFixed(1)}% of its ${period} budget`, value: used });
  }
  if (d.scheduler.queueDepth > 1000) out.push({ kind: 'queue_backup', severity: 'warning', subject: 'queue', message: `${d.scheduler.queueDepth} requests queued`, value: d.scheduler.queueDepth });
  for (const [level, s] of Object.entries(d.scheduler.queueStats())) {
    if (s.oldestWaitMs > 10 * 60_000) out.push({ kind: 'request_starving', severity: 'warning', subject: level, message: `A ${level} request has waited ${(s.oldestWaitMs / 60_000).toFixed(1)} minutes`, value: s.oldestWaitMs });
  }
  for (const w of d.registry.workers()) {
    const h = d.health.view(w.name);
    if (!h || h.breaker === 'closed') continue;
    const why = h.lastError ? `: ${h.lastError}` : '';
    const when = h.reopensAt === null ? 'a trial is due' : `next trial at ${new Date(h.reopensAt).toISOString()}`;
    out.push({ kind: 'worker_unhealthy', severity: 'critical', subject: w.name, message: `Worker ${w.name} is out of rotation (circuit breaker ${h.breaker}, ${when})${why}`, value: Math.max(h.consecutiveFailures, h.dispatchFailures) });
  }
  return out;
}
