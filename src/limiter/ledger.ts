/**
 * The live token buckets of one process: one bucket per pool of each
 * resource (a resource without pools has one, its shared pool, keyed by the
 * resource name). Every change returns the new levels of the buckets it
 * touched so that the caller can write them in the same store transaction
 * as the state change that caused it (or, in LocalLimiter, through its
 * levels port).
 *
 * Invariant (SQLite): a change here and the store write it belongs to run in
 * one synchronous stretch of JavaScript, so nothing can observe one without
 * the other.
 */
import { drawOrder, type Pool } from '../core/pools.ts';
import { debit, fullBucket, giveBack as tbGiveBack, refill, setLevel, type BucketState } from '../core/token-bucket.ts';
import { checkNeeds } from './draw.ts';
import type { Amounts, CheckResult, DrawContext, LimitedResource, PoolLevel, Refused } from './limiter.ts';
import { PoolTable } from './pool-table.ts';
import { settlementMoves } from './settlement.ts';

export type { Amounts, DrawContext, PoolLevel } from './limiter.ts';

/** The new levels of the buckets one change touched, by pool key (absolute values: later writes replace earlier ones). */
export type BucketWrites = ReadonlyMap<string, BucketState>;

const NOBODY_WAITING: DrawContext = { ownerWaiting: () => false };

/** What a reservation changed: the bucket writes, and what came from each pool (settle and giveBack need it). */
export interface Reserved {
  readonly writes: BucketWrites;
  readonly taken: Amounts;
}

export class ResourceLedger {
  /**
   * The latest time any operation was given. Every operation runs at least
   * at this time, so after the clock goes back, all pools agree on when a
   * take happened (otherwise a pool not touched since could later credit
   * refill for time it spent full).
   */
  #high = -Infinity;
  readonly #table = new PoolTable();
  readonly #state = new Map<string, BucketState>();

  constructor(resources: ReadonlyMap<string, LimitedResource>, saved: ReadonlyMap<string, BucketState>, now: number) {
    for (const r of resources.values()) this.#configure(r, saved, now);
  }

  #configure(r: LimitedResource, saved: ReadonlyMap<string, BucketState>, now: number): void {
    for (const p of this.#table.set(r)) {
      const s = saved.get(p.key);
      // A capacity lowered since the last run must not leave a level above it.
      this.#state.set(p.key, s ? { level: Math.min(p.capacity, s.level), updatedAt: s.updatedAt } : fullBucket(p, now));
    }
  }

  /** Replace a resource's pools (admin change); pools that keep their key keep their level. */
  reconfigure(resource: LimitedResource, now: number): BucketWrites {
    now = this.#at(now);
    this.#configure(resource, new Map(this.#state), now);
    const writes = new Map<string, BucketState>();
    for (const p of this.#table.pools(resource.name) ?? []) writes.set(p.key, this.#level(p, now));
    return writes;
  }

  /**
   * Replace every resource's pools: `reconfigure` each of `resources`, and
   * drop the resources left out. Like a pool removed by `reconfigure`, their
   * levels are kept aside: a pool that comes back keeps its level.
   */
  reconfigureAll(resources: Iterable<LimitedResource>, now: number): BucketWrites {
    const writes = new Map<string, BucketState>();
    const keep = new Set<string>();
    for (const r of resources) {
      keep.add(r.name);
      for (const [k, v] of this.reconfigure(r, now)) writes.set(k, v);
    }
    for (const [name] of this.#table.resources()) if (!keep.has(name)) this.#table.delete(name); // Deleting while iterating a Map is safe.
    return writes;
  }

  #at(now: number): number {
    if (now > this.#high) this.#high = now;
    return this.#high;
  }

  #level(p: Pool, now: number): BucketState {
    return refill(p, this.#state.get(p.key) as BucketState, now);
  }

  /** Whether all of `needs` can be taken now; if not, the first short resource and its wait. */
  check(needs: Amounts, now: number, ctx: DrawContext = NOBODY_WAITING): CheckResult {
    now = this.#at(now);
    return checkNeeds(this.#table, needs, ctx, (p) => this.#state.get(p.key) as BucketState, now);
  }

  /** `check` and `reserve` in one step: all of `needs`, or nothing and the first short resource. */
  take(needs: Amounts, now: number, ctx: DrawContext = NOBODY_WAITING): ({ ok: true } & Reserved) | Refused {
    const c = this.check(needs, now, ctx);
    return c.ok ? { ok: true, ...this.reserve(needs, now, ctx) } : c;
  }

  /**
   * Take `needs` (call `check` first with the same context). Returns the
   * bucket writes and what was taken from each pool, which settle and
   * giveBack need.
   */
  reserve(needs: Amounts, now: number, ctx: DrawContext = NOBODY_WAITING): Reserved {
    now = this.#at(now);
    const writes = new Map<string, BucketState>();
    const taken: Record<string, number> = {};
    for (const [name, amount] of Object.entries(needs)) {
      const pools = this.#table.pools(name);
      if (!pools || amount <= 0) continue;
      let rest = amount;
      for (const p of drawOrder(pools, ctx.who, ctx.ownerWaiting)) {
        if (rest <= 1e-12) break;
        const s = this.#level(p, now);
        const take = Math.min(rest, Math.max(0, s.level));
        if (take <= 0) continue;
        const next = { level: s.level - take, updatedAt: s.updatedAt };
        this.#state.set(p.key, next);
        writes.set(p.key, next);
        taken[p.key] = (taken[p.key] ?? 0) + take;
        rest -= take;
      }
      if (rest > 1e-9) throw new Error(`ledger: ${name} cannot supply ${amount}; check() first`);
    }
    return { writes, taken };
  }

  /**
   * Replace what was taken by what was used, per resource: unused units go
   * back to the pools they came from, borrowed ones first (so lent capacity
   * returns to its owner soonest); overuse is debited from the first pool.
   */
  settle(taken: Amounts, used: Amounts, now: number): BucketWrites {
    now = this.#at(now);
    const writes = new Map<string, BucketState>();
    for (const m of settlementMoves(taken, used, (r) => this.#table.pools(r)?.[0]?.key)) {
      this.#put(m.key, (p, s) => (m.kind === 'give' ? tbGiveBack(p, s, m.amount, now) : debit(p, s, m.amount, now)), writes);
    }
    return writes;
  }

  /**
   * An operator sets a resource's level (default: full), for example to clear
   * a debt a worker's bad report left. Each pool gets its share of `level`.
   */
  reset(resource: string, level: number | undefined, now: number): BucketWrites {
    now = this.#at(now);
    const writes = new Map<string, BucketState>();
    const pools = this.#table.pools(resource) ?? [];
    const capacity = pools.reduce((a, p) => a + p.capacity, 0);
    for (const p of pools) {
      const to = level === undefined ? p.capacity : (level * p.capacity) / capacity;
      this.#put(p.key, (pool, s) => setLevel(pool, s, to, now), writes);
    }
    return writes;
  }

  /** Return everything taken (cancelled before it could run). */
  giveBack(taken: Amounts, now: number): BucketWrites {
    now = this.#at(now);
    const writes = new Map<string, BucketState>();
    for (const [key, amount] of Object.entries(taken)) this.#put(key, (p, s) => tbGiveBack(p, s, amount, now), writes);
    return writes;
  }

  #put(key: string, f: (p: Pool, s: BucketState) => BucketState, writes: Map<string, BucketState>): void {
    const p = this.#table.byKey(key);
    const s = this.#state.get(key);
    if (!p || !s) return;
    const next = f(p, s);
    this.#state.set(key, next);
    writes.set(key, next);
  }

  /** Current level and capacity of every resource, pools summed (refilled to `now`, not written back). */
  levels(now: number): Map<string, { level: number; capacity: number }> {
    now = this.#at(now);
    const out = new Map<string, { level: number; capacity: number }>();
    for (const [name, pools] of this.#table.resources()) {
      let level = 0;
      let capacity = 0;
      for (const p of pools) {
        level += this.#level(p, now).level;
        capacity += p.capacity;
      }
      out.set(name, { level, capacity });
    }
    return out;
  }

  /** Whether a resource is split into more than its shared pool. */
  hasPools(resource: string): boolean {
    return this.#table.hasPools(resource);
  }

  /** Every pool of a resource with its current level. */
  poolLevels(resource: string, now: number): PoolLevel[] {
    now = this.#at(now);
    return (this.#table.pools(resource) ?? []).map((pool) => ({ pool, level: this.#level(pool, now).level }));
  }
}
