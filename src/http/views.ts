/** How entities look in API responses (snake_case, USD, ISO times). */
import { nanoToUsd } from '../core/money.ts';
import type { Client, WorkRequest } from '../model.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { HealthView } from '../workers/health.ts';

/** An instant in ms as ISO 8601, or null. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function estimateView(e: WorkRequest['estimate']) {
  return { input_tokens: e.inputTokens, input_overhead_tokens: e.inputOverheadTokens ?? 0, max_output_tokens: e.maxOutputTokens, resources: e.resources, max_cost_usd: nanoToUsd(e.maxCostNano) };
}

export function executionView(r: WorkRequest, scheduler: Scheduler) {
  const live = scheduler.liveScore(r);
  return {
    request_id: r.id,
    client_id: r.clientId,
    template: r.template,
    status: r.state,
    /** Which system ran (or runs) it while Allot and Orchestrator v2 run side by side. */
    system: r.system ?? 'allot',
    external_id: r.externalId ?? null,
    shadow_of: r.shadowOf ?? null,
    urgency: r.urgency,
    level: live.level,
    priority: { score: live.total, parts: live.parts },
    queue_position: r.state === 'PENDING' ? (scheduler.position(r.id) ?? null) : null,
    attempts: r.attempts,
    max_attempts: r.maxAttempts,
    model: r.model ?? null,
    model_requested: r.optimization?.downgrade?.requested ?? r.model ?? null,
    downgrade_reason: r.optimization?.downgrade?.reason ?? null,
    max_tokens: r.maxTokens,
    progress: r.progress ? { percent: r.progress.percent, message: r.progress.message ?? null, at: iso(r.progress.at) } : null,
    output: r.output ?? null,
    error: r.error,
    usage: r.usage ?? null,
    /** A pipeline's stages: where each stands, its attempts, usage and cost. */
    stages: r.pipeline
      ? r.pipeline.stages.map((s, i) => ({
        stage: i, worker: s.worker, status: s.state, attempts: s.attempts, usage: s.usage, cost_usd: nanoToUsd(s.costNano),
        output_ref: s.outputRef ?? null, output_bytes: s.outputBytes ?? null, error: s.error, started_at: iso(s.startedAt), completed_at: iso(s.completedAt),
      }))
      : null,
    cost_usd: nanoToUsd(r.costNano),
    /** What the worker's usage cost beyond the budget hold (it used more than max_tokens allowed). */
    overrun_usd: nanoToUsd(Math.max(0, r.costNano - r.holdNano)),
    /** Usage the worker reported beyond what the job allowed (charged as reported): null when none. */
    overuse: r.overuse
      ? { workers: r.overuse.workers, output_tokens: r.overuse.outputTokens ?? null, resources: r.overuse.resources, at: iso(r.overuse.at) }
      : null,
    /** Times Allot stopped while it ran (each taken back without using up an attempt). */
    recoveries: r.recoveries ?? 0,
    estimate: estimateView(r.estimate),
    hold_usd: r.state === 'COMPLETED' || r.state === 'FAILED' || r.state === 'CANCELLED' ? 0 : nanoToUsd(r.holdNano),
    idempotency_key: r.idempotencyKey,
    cache: r.optimization?.cache ? { hit: r.optimization.cache.hit, source_request_id: r.optimization.cache.sourceRequestId ?? null } : null,
    created_at: iso(r.createdAt),
    started_at: iso(r.startedAt),
    completed_at: iso(r.completedAt),
    next_attempt_at: iso(r.runAt),
    deadline_at: iso(r.deadlineAt),
  };
}

export function clientView(c: Client, budgetUsd: number | null, maxConcurrent: number) {
  return {
    id: c.id,
    name: c.name,
    tier: c.tier,
    monthly_budget_usd: budgetUsd,
    custom_budget: c.monthlyBudgetUsd !== null,
    max_concurrent: maxConcurrent,
    optimizations: { cache: c.optimizations?.cache ?? true, downgrade: c.optimizations?.downgrade ?? true, batching: c.optimizations?.batching ?? true, offpeak: c.optimizations?.offpeak ?? true },
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
  };
}

/** A resource's pools with their live levels. */
export function poolView(d: { scheduler: Scheduler }, resource: string) {
  return d.scheduler.poolLevels(resource).map(({ pool, level }) => ({
    name: pool.name, kind: pool.kind, tier: pool.tier ?? null, client: pool.client ?? null,
    capacity: Number(pool.capacity.toFixed(6)), refill_per_s: Number(pool.refillPerS.toFixed(6)), available: Math.floor(Math.max(0, level)),
  }));
}

/** A worker's health and circuit breaker (src/workers/health.ts). */
export function workerHealthView(h: HealthView) {
  return {
    status: h.status,
    available: h.available,
    breaker: h.breaker,
    reopens_at: iso(h.reopensAt),
    last_checked_at: iso(h.lastCheckedAt),
    last_error: h.lastError,
    last_error_at: iso(h.lastErrorAt),
    consecutive_failures: h.consecutiveFailures,
    dispatch_failures: h.dispatchFailures,
    detected_transport: h.detected,
    warning: h.warning,
    held: h.held,
  };
}
