/**
 * Retry policy: exponential backoff with "equal jitter" (half fixed, half
 * random) so retries spread out but never fire immediately.
 */
export interface RetryPolicy {
  /** Total attempts including the first. @default 3 */
  readonly maxAttempts: number;
  /** @default 1 second */
  readonly baseDelayMs: number;
  /** @default 60 seconds */
  readonly maxDelayMs: number;
  /** @default 2 */
  readonly factor: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000, factor: 2 });

/** Delay before attempt `attempt + 1`, given that `attempt` (1-based) just failed. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = policy.baseDelayMs * policy.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exp);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(capped / 2 + (r * capped) / 2);
}

/** Retry only failures marked retryable, and only while attempts remain. */
export function shouldRetry(policy: RetryPolicy, attempt: number, retryable: boolean): boolean {
  return retryable && attempt < policy.maxAttempts;
}
