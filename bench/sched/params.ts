/**
 * Scenario parameters: `full` for `npm run bench:sched`, `short` for
 * test/scheduler/sim.test.ts. One pool throughout unless said otherwise:
 * 10,000 tokens capacity, 1,000 tokens/s refill, 100-token requests,
 * 100 ms virtual steps.
 */
import { HOLD_OFF, type AccuracyParams, type BudgetParams, type FairnessParams, type LargeParams, type ReservedParams, type TiersParams } from './scenarios.ts';

const POOL = { capacity: 10_000, refillPerS: 1_000 } as const;
const STEP = { stepMs: 100 } as const;

export interface ParamSet {
  /** Equal floods, and floods of different sizes (everyone above its fair share). Holds off, to isolate fairness. */
  readonly fairEqual: FairnessParams;
  readonly fairUnequal: FairnessParams;
  /** Tiers under saturation, with holds as configured (the default's share of the starvation bound) and with holds off. */
  readonly tiers: TiersParams;
  readonly tiersNoHold: TiersParams;
  /** A large request among small ones, with the hold, and with holds off (the baseline). */
  readonly large: LargeParams;
  readonly largeNoHold: LargeParams;
  readonly budget: BudgetParams;
  /** Bucket accuracy under saturation: with holds as by default, with holds off, and with workers using 60% of what they may. */
  readonly accuracyDefault: AccuracyParams;
  readonly accuracyNoHold: AccuracyParams;
  readonly accuracyPartialUse: AccuracyParams;
  /**
   * A reserved pool (30%) lent while its owner is idle, reclaimed when it returns: owner of the
   * borrowers' tier, and owner of a higher tier. Holds off, to isolate the pools.
   */
  readonly reservedSameTier: ReservedParams;
  readonly reservedHigherTier: ReservedParams;
}

const fair = (durationMs: number, demand: number[]): FairnessParams => ({
  ...POOL, ...STEP, clients: 10, tier: 'standard', size: 100, demand, durationMs, scheduler: { hold_after_ms: HOLD_OFF },
});

const tiers = (starvationMs: number, holdAfterMs: number, durationMs: number): TiersParams => ({
  ...POOL, ...STEP, size: 100, offered: { enterprise: 0.5, premium: 0.3, standard: 0.3, basic: 0.1 }, clientsPerTier: 2, starvationMs, holdAfterMs, durationMs,
});

const large = (holdAfterMs: number, bigAtMs: number, streamMs: number): LargeParams => ({
  ...POOL, ...STEP, smallSize: 100, bigSize: 8_000, smallClients: 5, overload: 1.5, bigAtMs, streamMs, holdAfterMs, starvationMs: 600_000,
});

const accuracy = (durationMs: number, use: number, scheduler?: Record<string, unknown>): AccuracyParams => ({
  ...POOL, ...STEP, clients: 5, overload: 2, minSize: 50, maxSize: 500, use, durationMs, ...(scheduler ? { scheduler } : {}),
});

const reserved = (ownerTier: string, ownerReturnsAtMs: number, durationMs: number): ReservedParams => ({
  ...POOL, ...STEP, size: 100, share: 0.3, ownerTier, borrowerTier: 'standard', borrowers: 5, overload: 1.5, ownerReturnsAtMs, ownerLoad: 0.5, durationMs,
  scheduler: { hold_after_ms: HOLD_OFF },
});

const EQUAL = Array.from({ length: 10 }, () => 3);
const UNEQUAL = Array.from({ length: 10 }, (_, i) => 1.5 + i / 2); // 1.5× to 6× the fair share

const budget: BudgetParams = { requests: 200, budgetUsd: 1, worstCaseUsd: 0.05, others: 4, otherBudgetUsd: 0.2, otherRequests: 20 };

export const full: ParamSet = {
  fairEqual: fair(300_000, EQUAL),
  fairUnequal: fair(300_000, UNEQUAL),
  // Starvation 2 min instead of 10 (aging is linear in it), hold after 30 s (the default), 3 × the bound.
  tiers: tiers(120_000, 30_000, 360_000),
  tiersNoHold: tiers(120_000, HOLD_OFF, 360_000),
  // SPEC defaults: hold after 30 s, starvation 10 min; streams of 2 and 4 min.
  large: large(30_000, 5_000, 120_000),
  largeNoHold: large(HOLD_OFF, 5_000, 120_000),
  budget,
  accuracyDefault: accuracy(120_000, 1),
  accuracyNoHold: accuracy(120_000, 1, { hold_after_ms: HOLD_OFF }),
  accuracyPartialUse: accuracy(120_000, 0.6, { hold_after_ms: HOLD_OFF }),
  reservedSameTier: reserved('standard', 60_000, 180_000),
  reservedHigherTier: reserved('enterprise', 60_000, 180_000),
};

export const short: ParamSet = {
  fairEqual: fair(60_000, EQUAL),
  fairUnequal: fair(60_000, UNEQUAL),
  tiers: tiers(20_000, 5_000, 60_000),
  tiersNoHold: tiers(20_000, HOLD_OFF, 60_000),
  large: large(5_000, 10_000, 30_000),
  largeNoHold: large(HOLD_OFF, 10_000, 30_000),
  budget,
  // Hold after 2 s, so that a short saturated run reaches it. 60 s: what is left in the bucket at the
  // end (less than one request, ≤ 500 tokens) must stay under 1% of capacity + refill × time.
  accuracyDefault: accuracy(60_000, 1, { hold_after_ms: 2_000 }),
  accuracyNoHold: accuracy(60_000, 1, { hold_after_ms: HOLD_OFF }),
  accuracyPartialUse: accuracy(60_000, 0.6, { hold_after_ms: HOLD_OFF }),
  reservedSameTier: reserved('standard', 30_000, 60_000),
  reservedHigherTier: reserved('enterprise', 30_000, 60_000),
};
