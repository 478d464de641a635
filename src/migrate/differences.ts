/**
 * How a shadow comparison decides that Allot and v2 answered differently.
 * Pure. A field differs when:
 *
 * - status: the end states differ (v2's completed/failed/cancelled are
 *   mapped to Allot's COMPLETED/FAILED/CANCELLED first);
 * - output: the outputs differ as canonical JSON (object keys sorted, so
 *   key order does not count; everything else, array order included, does);
 * - cost: the costs differ by more than `costTolerance` of the larger one
 *   (default 1%: float rounding of v2's USD figure never trips it, a
 *   different model or token count does);
 * - latency: the slower side took more than `latencyFactor` times the faster
 *   one (default 2×) AND at least `latencyFloorMs` longer (default 250 ms),
 *   so that 3 ms against 8 ms, or a poll interval's worth of noise, is not
 *   reported.
 */
import { MIGRATION_DEFAULTS } from '../config/migration.ts';
import { canonical } from '../service/ids.ts';
import type { ShadowSide } from '../store/store.ts';

export interface Tolerances {
  /** @default 0.01 (1%) */
  readonly costTolerance: number;
  /** @default 2 */
  readonly latencyFactor: number;
  /** @default 250 ms */
  readonly latencyFloorMs: number;
}

export const DEFAULT_TOLERANCES: Tolerances = Object.freeze({
  costTolerance: MIGRATION_DEFAULTS.costTolerance, latencyFactor: MIGRATION_DEFAULTS.latencyFactor, latencyFloorMs: MIGRATION_DEFAULTS.latencyFloorMs,
});

/** v2's execution statuses in Allot's words; unknown ones pass through upper-cased. */
export function v2Status(status: string): string {
  const s = status.toLowerCase();
  if (s === 'completed') return 'COMPLETED';
  if (s === 'failed') return 'FAILED';
  if (s === 'cancelled' || s === 'canceled') return 'CANCELLED';
  return s.toUpperCase();
}

/** The fields in which the two sides differ, in a fixed order. */
export function differences(allot: ShadowSide, v2: ShadowSide, t: Tolerances = DEFAULT_TOLERANCES): string[] {
  const out: string[] = [];
  if (allot.status !== v2.status) out.push('status');
  if (canonical(allot.output ?? null) !== canonical(v2.output ?? null)) out.push('output');
  const hi = Math.max(Math.abs(allot.costNano), Math.abs(v2.costNano));
  if (Math.abs(allot.costNano - v2.costNano) > t.costTolerance * hi) out.push('cost');
  if (allot.latencyMs !== null && v2.latencyMs !== null) {
    const fast = Math.min(allot.latencyMs, v2.latencyMs);
    const slow = Math.max(allot.latencyMs, v2.latencyMs);
    if (slow - fast >= t.latencyFloorMs && slow > t.latencyFactor * fast) out.push('latency');
  }
  return out;
}
