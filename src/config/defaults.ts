/**
 * Every default in one place, with units in the name or the expression.
 * Resources and tiers are SPEC section 2's tables.
 */
import { MINUTE, SECOND } from '../core/clock.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8787,
  dbPath: 'data/allot.db',
  logLevel: 'info',
  /** SQLite `synchronous`: NORMAL survives a process crash (kill -9); FULL also survives power loss. */
  dbSync: 'NORMAL' as 'NORMAL' | 'FULL',
  starvationMs: 10 * MINUTE,
  /** A request that has waited this long and does not fit gets capacity held for it. */
  holdAfterMs: 30 * SECOND,
  fairnessHalfLifeMs: 1 * MINUTE,
  /** Deferred work also runs once every bucket has been under this utilization for this long. */
  deferredLowUtilization: { below: 0.3, forMs: 1 * MINUTE },
  leaseGraceMs: 5 * SECOND,
  /** A pull worker's lease on a job before its heartbeat renews it (a dead worker's jobs come back after this, not at their deadline). */
  pullLeaseMs: 30 * SECOND,
  reaperIntervalMs: 1 * SECOND,
  maxQueueDepth: 100_000,
  maxBodyBytes: 1 * MiB,
  /** Bodies being received at once, all connections: bounds the memory slow or many uploads can take. */
  maxBufferedBodyBytes: 256 * MiB,
  maxConnections: 4096,
  /** Headers and body of a request must arrive within this; a slow client is cut off (408). */
  requestTimeoutMs: 60 * SECOND,
  headersTimeoutMs: 10 * SECOND,
  keepAliveTimeoutMs: 5 * SECOND,
  executeWaitMs: 30 * SECOND,
  maxExecuteWaitMs: 5 * MINUTE,
  budgetTimeZone: 'UTC',
  templateTimeoutMs: 30 * SECOND,
  templateMaxTokens: 512,
  retry: { maxAttempts: 3, baseDelayMs: 1 * SECOND, maxDelayMs: 60 * SECOND, factor: 2 },
  workerMaxConcurrency: 10,
  /** Probe every HTTP and v2 worker's GET /health this often; open its breaker after this many consecutive failures of one kind, for cooldownMs. */
  /** How often alert conditions are checked. */
  alertIntervalMs: 5 * SECOND,
  workerHealth: Object.freeze({ intervalMs: 10 * SECOND, timeoutMs: 3 * SECOND, failureThreshold: 5, cooldownMs: 30 * SECOND }),
});

export const DEFAULT_TIERS = {
  enterprise: { priority_points: 40, max_concurrent: 100, monthly_budget_usd: null },
  premium: { priority_points: 30, max_concurrent: 50, monthly_budget_usd: 1000 },
  standard: { priority_points: 20, max_concurrent: 20, monthly_budget_usd: 500 },
  basic: { priority_points: 10, max_concurrent: 5, monthly_budget_usd: 100 },
} as const;

export const DEFAULT_RESOURCES = {
  'openai.gpt-4': { kind: 'tokens', model: 'gpt-4', unit: 'token', capacity: 10_000, refill_per_s: 166, cost_per_unit_usd: 0.03 / 1000 },
  'openai.gpt-3.5': { kind: 'tokens', model: 'gpt-3.5', unit: 'token', capacity: 90_000, refill_per_s: 1_500, cost_per_unit_usd: 0.0015 / 1000 },
  email: { kind: 'count', unit: 'email', capacity: 1_000, refill_per_s: 16, cost_per_unit_usd: 0.0001 },
  sms: { kind: 'count', unit: 'sms', capacity: 500, refill_per_s: 8, cost_per_unit_usd: 0.0075 },
  database: { kind: 'count', unit: 'query', capacity: 50_000, refill_per_s: 833, cost_per_unit_usd: 0 },
  kv: { kind: 'count', unit: 'read', capacity: 100_000, refill_per_s: 1_666, cost_per_unit_usd: 0.0000005 },
} as const;
