/**
 * Priority score on 0-100 (SPEC section 4):
 *   tier 0-40 + urgency 0-30 + wait 0-20 + fairness 0-10.
 * Wait points grow linearly and reach 20 at the starvation threshold; a
 * request past the threshold is additionally served ahead of scored work by
 * the run queue, because 20 points alone cannot lift a basic-tier request
 * over a stream of enterprise-critical ones (10 + 20 < 40 + 30).
 */
export const URGENCIES = ['critical', 'high', 'normal', 'low'] as const;
export type Urgency = (typeof URGENCIES)[number];

export const URGENCY_POINTS: Readonly<Record<Urgency, number>> = Object.freeze({ critical: 30, high: 20, normal: 10, low: 0 });

export const LEVELS = ['immediate', 'fast', 'normal', 'batch', 'deferred'] as const;
export type Level = (typeof LEVELS)[number];

export interface ScoreParts {
  readonly tier: number;
  readonly urgency: number;
  readonly wait: number;
  readonly fairness: number;
}

export interface Score {
  readonly total: number;
  readonly parts: ScoreParts;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** 0-20, linear in time waited, 20 at `starvationMs`. Negative waits (clock went back) count as 0. */
export function waitPoints(waitedMs: number, starvationMs: number): number {
  if (starvationMs <= 0) return 20;
  return 20 * clamp(waitedMs / starvationMs, 0, 1);
}

export function score(tierPoints: number, urgency: Urgency, waitedMs: number, starvationMs: number, fairness: number): Score {
  const parts: ScoreParts = {
    tier: clamp(tierPoints, 0, 40),
    urgency: URGENCY_POINTS[urgency],
    wait: round2(waitPoints(waitedMs, starvationMs)),
    fairness: round2(clamp(fairness, 0, 10)),
  };
  return { total: round2(parts.tier + parts.urgency + parts.wait + parts.fairness), parts };
}

/**
 * The level a score falls in. `batch` and `deferred` can also be asked for
 * explicitly; a score alone never defers work (deferred runs only off-peak).
 */
export function levelFor(total: number, requested?: 'batch' | 'deferred'): Level {
  if (requested) return requested;
  if (total >= 80) return 'immediate';
  if (total >= 60) return 'fast';
  if (total >= 30) return 'normal';
  return 'batch';
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
