/**
 * The Limiter: the token buckets of every resource's pools (src/core/pools.ts),
 * taken and settled by grant id. It replaces bucket levels kept beside the
 * Store so that several Allot processes can share them (SPEC section 10).
 *
 * A grant is what one piece of work took: a request's attempt
 * (`${requestId}:${attempt}`), or a worker's own reservation (its
 * reservation id, drawn with `SHARED_ONLY`). Its life:
 *
 *     take ──► settle   (it ran: unused units back, overuse debited)
 *          ├─► release  (it never ran: everything back)
 *          └─► expire   (nobody said: forgotten, nothing back)
 *
 * Invariants, the same for every implementation:
 * - Rate: over any interval a pool admits at most capacity + refill ×
 *   elapsed, net of what was given back (src/core/token-bucket.ts). Overuse
 *   makes a debt repaid by refill before anything else is admitted; the debt
 *   never goes below −capacity.
 * - All or nothing: `take` takes every resource of `needs` or none.
 * - Idempotent by grant id: a repeated `take` of a live grant returns it
 *   unchanged and takes nothing (even with other needs); `settle` and
 *   `release` of a grant that is not live (never taken, settled, released,
 *   expired) change nothing and resolve false. A grant id is not reused
 *   after its grant ended: a take after that is a new grant.
 * - Fail closed: when the backend cannot be reached, operations reject with
 *   `unavailable('redis', …)` (503 QUEUE_BACKUP, retryable) instead of
 *   answering. After a rejection the outcome is unknown (the command may
 *   have run); nothing may be treated as granted. Repeat the operation with
 *   the same grant id, or `release` it: both are safe. A grant nobody
 *   settles is forgotten by `expire`, on the safe side.
 * - `expire` gives nothing back: the work may have happened, and a provider's
 *   limit counted it. Settle or release before the ttl to return units.
 *
 * Time: the local limiter reads its injected Clock; the Redis limiter reads
 * the Redis server's clock inside its scripts, so instances with skewed
 * clocks share one. Either way, time going backwards credits nothing twice.
 *
 * Views (`levels`, `poolLevels`, `check`) are synchronous: the scheduler's
 * pass and the HTTP views read them without a round trip. They may come from
 * a snapshot that every operation and `refresh()` update, projected forward
 * by refill; only `take` decides.
 */
import type { Pool, PoolDef, Requester } from '../core/pools.ts';

/** Amounts by resource name (needs, used) or by pool key (taken). */
export type Amounts = Readonly<Record<string, number>>;

/** Who draws, which decides the pools it may use and in what order (src/core/pools.ts `drawOrder`). */
export interface DrawContext {
  /** Absent: shared pools only (a worker's own use). */
  readonly who?: Requester | undefined;
  /** Whether a reserved pool's owner has work waiting (then the pool lends nothing). */
  readonly ownerWaiting: (p: Pool) => boolean;
}

/** Draw from shared pools only, lending nothing: for a worker's own reservations. */
export const SHARED_ONLY: DrawContext = Object.freeze({ ownerWaiting: () => false });

/** A take that succeeded: what came from each pool, by pool key, in draw order. */
export interface Granted {
  readonly ok: true;
  readonly taken: Amounts;
}

/** A take that did not: the first resource that was short, and when it could fit. */
export interface Refused {
  readonly ok: false;
  readonly resource: string;
  readonly needed: number;
  /** ms until `needed` could be there (Infinity: never, it exceeds what these pools can hold). */
  readonly waitMs: number;
}

export type TakeResult = Granted | Refused;

/** What `check` says: fits now, or the first short resource. */
export type CheckResult = { readonly ok: true } | Refused;

export interface ResourceLevel {
  /** Sum of the resource's pools (may be negative while a debt is repaid). */
  readonly level: number;
  readonly capacity: number;
}

export interface PoolLevel {
  readonly pool: Pool;
  readonly level: number;
}

/** The part of a resource the limiter needs (src/model.ts `Resource` fits). */
export interface LimitedResource {
  readonly name: string;
  readonly capacity: number;
  /** Units per second. */
  readonly refillPerS: number;
  readonly pools?: readonly PoolDef[] | undefined;
}

export interface LimiterCapabilities {
  /** Whether several processes share these buckets (Redis) or only this one does (local). */
  readonly shared: boolean;
}

export interface Limiter {
  readonly capabilities: LimiterCapabilities;

  /**
   * Take all of `needs` (by resource; unknown resources and amounts ≤ 0 are
   * skipped) for the grant `grantId`, held at most `ttlMs` (then `expire`
   * forgets it). A live grant with this id is returned as it is.
   */
  take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number): Promise<TakeResult>;

  /**
   * `take` answered at the call, for a limiter in this process (the local
   * one): the caller can write what the take is for in the same synchronous
   * stretch (SQLite's group commit, audit rows in the order the buckets
   * changed). `at`: the time the caller records with it, so that the record
   * and the buckets agree to the millisecond (never behind the latest time
   * the limiter used). Absent on a shared limiter.
   */
  takeNow?(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number, at?: number): TakeResult;

  /**
   * Replace what the grant took by what was `used` (by resource; a resource
   * it took but `used` leaves out counts as 0): unused units go back to the
   * pools they came from, borrowed ones first; overuse is debited from the
   * first pool it drew (or the resource's first pool), down to −capacity.
   * Then the grant is forgotten. False when no such grant is live.
   */
  /** @param at a local limiter's time for it (see takeNow); a shared limiter keeps its own clock */
  settle(grantId: string, used: Amounts, at?: number): Promise<boolean>;

  /** Give everything the grant took back and forget it (it never ran). False when no such grant is live. */
  release(grantId: string): Promise<boolean>;

  /** Forget grants past their ttl without giving anything back; resolves how many. The reaper calls it. */
  expire(): Promise<number>;

  /**
   * An operator sets a resource's level (default: full), e.g. to clear a
   * debt; each pool gets its share. Resolves the level before, or null for
   * an unknown resource.
   */
  reset(resource: string, level?: number): Promise<number | null>;

  /**
   * The whole set of resources and their pools, after an admin change.
   * Pools that keep their key keep their level (capped at a lowered
   * capacity); new pools start full; resources left out are dropped.
   */
  configure(resources: Iterable<LimitedResource>): Promise<void>;

  /** Every resource's level, pools summed, refilled to now. */
  levels(): Map<string, ResourceLevel>;

  /** A resource's pools with their levels, in configuration order ([] for an unknown resource). */
  poolLevels(resource: string): PoolLevel[];

  /** Whether a resource is split into more than its shared pool (then who draws matters). */
  hasPools(resource: string): boolean;

  /** Whether `needs` would fit now: advisory (from the snapshot where there is one); only `take` decides. */
  /** @param at a local limiter's time for it, the same the caller then takes at (see takeNow); a shared limiter keeps its own */
  check(needs: Amounts, ctx: DrawContext, at?: number): CheckResult;

  /** Read every pool's level from the backend into the snapshot behind the views. */
  refresh(): Promise<void>;

  /** Let go of connections and timers. Idempotent; operations after it reject. */
  close(): Promise<void>;
}
