/**
 * The pools' levels as a shared limiter's backend last reported them, behind
 * the limiter's synchronous views (levels, poolLevels, check): Redis's
 * scripts, or the Durable Objects of the buckets. Every reply carries the
 * backend's time and the pools it read or changed; between replies that time
 * is projected with this process's monotonic clock, and levels refill by the
 * token-bucket rule. Advisory: only a take decides.
 */
import type { Pool } from '../core/pools.ts';
import { refill, type BucketState } from '../core/token-bucket.ts';
import { checkNeeds } from './draw.ts';
import type { Amounts, CheckResult, DrawContext, PoolLevel, ResourceLevel } from './limiter.ts';
import type { PoolTable } from './pool-table.ts';

export class Snapshot {
  readonly #states = new Map<string, BucketState>();
  #serverAt = 0;
  #monoAt = 0;

  /** A reply: server time `now` (ms) and pools' states, flat [key, level, t, ...]. */
  apply(now: number, flat: readonly string[]): void {
    this.#at(now);
    for (let i = 0; i + 2 < flat.length; i += 3) this.#states.set(flat[i] as string, { level: Number(flat[i + 1]), updatedAt: Number(flat[i + 2]) });
  }

  /** One pool's state as a backend reported it at its time `now`. */
  set(key: string, state: BucketState, now: number): void {
    this.#at(now);
    this.#states.set(key, state);
  }

  #at(now: number): void {
    if (now >= this.#serverAt) {
      this.#serverAt = now;
      this.#monoAt = performance.now();
    }
  }

  /** The backend's time now, as best known here. */
  serverNow(): number {
    return this.#serverAt + Math.max(0, performance.now() - this.#monoAt);
  }

  /** A pool's last known state (a pool never reported counts as empty: the safe guess). */
  state(p: Pool): BucketState {
    return this.#states.get(p.key) ?? { level: 0, updatedAt: this.#serverAt };
  }

  /** A pool's level refilled to `now`. */
  level(p: Pool, now: number): number {
    return refill(p, this.state(p), now).level;
  }

  // The views a shared limiter answers from this snapshot (Limiter.levels, poolLevels, check).

  /** Each resource's level (its pools summed) and capacity, now. */
  levels(table: PoolTable): Map<string, ResourceLevel> {
    const now = this.serverNow();
    const out = new Map<string, ResourceLevel>();
    for (const [name, pools] of table.resources()) {
      let level = 0;
      let capacity = 0;
      for (const p of pools) {
        level += this.level(p, now);
        capacity += p.capacity;
      }
      out.set(name, { level, capacity });
    }
    return out;
  }

  poolLevels(table: PoolTable, resource: string): PoolLevel[] {
    const now = this.serverNow();
    return (table.pools(resource) ?? []).map((pool) => ({ pool, level: this.level(pool, now) }));
  }

  check(table: PoolTable, needs: Amounts, ctx: DrawContext): CheckResult {
    return checkNeeds(table, needs, ctx, (p) => this.state(p), this.serverNow());
  }
}

