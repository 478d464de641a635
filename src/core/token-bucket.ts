/**
 * Token-bucket arithmetic, pure: what the limiters (src/limiter/) build on,
 * per pool. Taking is theirs (all of a request's needs from several pools,
 * or nothing: src/limiter/draw.ts, ledger.ts and the Redis scripts).
 *
 * Invariant: over any interval [t1, t2] the net amount taken (taken minus
 * returned) is at most `capacity + refillPerS × (t2 − t1)`. Two details keep
 * that true:
 * - time going backwards adds nothing and does not move `updatedAt` back, so
 *   the same stretch of time is never credited twice;
 * - returned tokens (a reservation larger than the actual use) never lift the
 *   level above capacity.
 * The level may go negative when a worker used more than it reserved: that
 * debt is repaid by refill before anything else is admitted. The debt is
 * bounded by the capacity (the level never goes below −capacity), so one
 * answer reporting absurd usage delays the resource by at most two full
 * refills (capacity × 2 / refill), not indefinitely; what was used beyond
 * that is still charged to the budget and flagged.
 */
export interface BucketSpec {
  /** Maximum level, in the resource's unit. */
  readonly capacity: number;
  /** Units added per second. */
  readonly refillPerS: number;
}

export interface BucketState {
  readonly level: number;
  /** The clock time (ms) up to which refill has been credited. */
  readonly updatedAt: number;
}

export function fullBucket(spec: BucketSpec, now: number): BucketState {
  return { level: spec.capacity, updatedAt: now };
}

/** The state with refill credited up to `now`. */
export function refill(spec: BucketSpec, state: BucketState, now: number): BucketState {
  const elapsedMs = now - state.updatedAt;
  if (elapsedMs <= 0) return state;
  const level = Math.min(spec.capacity, state.level + (spec.refillPerS * elapsedMs) / 1000);
  return { level, updatedAt: now };
}

/**
 * ms from `now` until the bucket holds `amount` (0 if it does now, Infinity
 * if it never will). When the clock is behind `updatedAt` nothing refills
 * until it passes `updatedAt` again, so that gap is part of the wait.
 */
export function waitFor(spec: BucketSpec, state: BucketState, amount: number, now: number): number {
  if (amount > spec.capacity) return Infinity;
  const s = refill(spec, state, now);
  if (amount <= s.level) return 0;
  if (spec.refillPerS <= 0) return Infinity;
  const behindMs = Math.max(0, s.updatedAt - now);
  return Math.ceil(behindMs + ((amount - s.level) * 1000) / spec.refillPerS);
}

/** Return unused units (capped at capacity). */
export function giveBack(spec: BucketSpec, state: BucketState, amount: number, now: number): BucketState {
  const s = refill(spec, state, now);
  return { level: Math.min(spec.capacity, s.level + Math.max(0, amount)), updatedAt: s.updatedAt };
}

/** Debit units used beyond a reservation; the level may go negative, down to −capacity. */
export function debit(spec: BucketSpec, state: BucketState, amount: number, now: number): BucketState {
  const s = refill(spec, state, now);
  return { level: Math.max(-spec.capacity, s.level - Math.max(0, amount)), updatedAt: s.updatedAt };
}

/** Set the level (an operator's reset), within [−capacity, capacity]. */
export function setLevel(spec: BucketSpec, state: BucketState, level: number, now: number): BucketState {
  const s = refill(spec, state, now);
  return { level: Math.min(spec.capacity, Math.max(-spec.capacity, level)), updatedAt: s.updatedAt };
}
