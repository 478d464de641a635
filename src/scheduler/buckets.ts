/**
 * The scheduler's one door to its token buckets: every check, take,
 * settlement, release, reset, reconfiguration and level read goes through a
 * `Buckets`, over the deployment's Limiter (src/limiter/limiter.ts: a
 * LocalLimiter in the embedded mode, the RedisLimiter shared by every
 * instance in the scale-out mode; src/limiter/open.ts picks it).
 *
 * What it adds to the Limiter:
 * - Takes in flight. A LocalLimiter changes its buckets at the call, so the
 *   rest of a pass sees a take at once. A shared limiter's views are a
 *   snapshot that only its answers update: until a take is answered, `check`
 *   counts what it asks for as taken, so that one pass does not send many
 *   takes for the same last units (the limiter would refuse all but one:
 *   never too many admitted, but each refusal is a round trip and a requeue).
 * - Unreachable backend. A take rejected as unavailable (QUEUE_BACKUP naming the service) starts a
 *   back-off (`unavailableMs`) during which the pass starts nothing; a
 *   settle or release that fails is kept and retried by the reaper, by grant
 *   id (both are idempotent), so no units are lost with the connection. A
 *   grant never settled expires (`expire`, the reaper) on the safe side.
 */
import { isUnavailable } from '../core/errors.ts';
import type { Amounts, CheckResult, DrawContext, LimitedResource, Limiter, PoolLevel, ResourceLevel, TakeResult } from '../limiter/limiter.ts';

export type { Amounts, CheckResult, DrawContext, PoolLevel };

/** How long the pass starts nothing after the limiter could not be reached. */
export const UNAVAILABLE_BACKOFF_MS = 1000;
/** A request refused only for takes in flight is looked at again after this (when their answers are in). */
export const IN_FLIGHT_RECHECK_MS = 20;
/** Unfinished settles and releases kept for retry; beyond it the oldest is left to expire (the safe side). */
const MAX_UNENDED = 10_000;


export class Buckets {
  readonly #l: Limiter;
  readonly #onError: (err: unknown) => void;
  /** Whether the limiter's views lag its takes (a shared limiter's snapshot): then takes in flight are counted here. */
  readonly #viewsLag: boolean;
  /** Units asked for by takes not yet answered, per resource (only when the views lag). */
  readonly #inFlight = new Map<string, number>();
  /** Grants whose settle (used) or release (null) could not reach the limiter, to retry. */
  readonly #unended = new Map<string, Amounts | null>();
  /** performance.now() until which the limiter is taken as unreachable. */
  #downUntil = 0;

  /** @param onError what the limiter failed at and retrying will not fix (reported, never thrown at the scheduler) */
  constructor(limiter: Limiter, onError: (err: unknown) => void) {
    this.#l = limiter;
    this.#onError = onError;
    this.#viewsLag = limiter.capabilities.shared;
  }

  /** ms left of the back-off after the limiter could not be reached (0: none). */
  unavailableMs(): number {
    return Math.max(0, Math.ceil(this.#downUntil - performance.now()));
  }

  #wentDown(): void {
    this.#downUntil = performance.now() + UNAVAILABLE_BACKOFF_MS;
  }

  /**
   * Whether all of `needs` can be taken now; if not, the first short resource
   * and its wait. Advisory: only `take` decides.
   */
  check(needs: Amounts, ctx: DrawContext, at?: number): CheckResult {
    const c = this.#l.check(needs, ctx, at);
    if (!c.ok || this.#inFlight.size === 0) return c;
    let more: Record<string, number> | undefined;
    for (const [name, amount] of Object.entries(needs)) {
      const pending = this.#inFlight.get(name);
      if (pending === undefined || amount <= 0) continue;
      more ??= { ...needs };
      more[name] = amount + pending;
    }
    if (!more) return c;
    const m = this.#l.check(more, ctx, at);
    // It fits on its own: what stands in the way are takes about to be answered.
    return m.ok ? m : { ok: false, resource: m.resource, needed: needs[m.resource] ?? m.needed, waitMs: Math.min(m.waitMs, IN_FLIGHT_RECHECK_MS) };
  }

  /**
   * Take all of `needs` for `grantId`, held at most `ttlMs`. A LocalLimiter
   * takes at the call, before the promise settles. Rejects as the limiter
   * does (unavailable: nothing may be treated as granted; the
   * back-off starts).
   */
  /** A limiter in this process answers at the call (see Limiter.takeNow); undefined for a shared one: use `take`. */
  takeNow(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number, at?: number): TakeResult | undefined {
    return this.#l.takeNow?.(grantId, needs, ctx, ttlMs, at);
  }

  async take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number): Promise<TakeResult> {
    if (!this.#viewsLag) {
      try {
        return await this.#l.take(grantId, needs, ctx, ttlMs);
      } catch (err) {
        if (isUnavailable(err)) this.#wentDown();
        throw err;
      }
    }
    this.#count(needs, 1);
    try {
      return await this.#l.take(grantId, needs, ctx, ttlMs);
    } catch (err) {
      if (isUnavailable(err)) this.#wentDown();
      throw err;
    } finally {
      this.#count(needs, -1);
    }
  }

  #count(needs: Amounts, sign: 1 | -1): void {
    for (const [name, amount] of Object.entries(needs)) {
      if (amount <= 0) continue;
      const v = (this.#inFlight.get(name) ?? 0) + sign * amount;
      if (v <= 1e-9) this.#inFlight.delete(name);
      else this.#inFlight.set(name, v);
    }
  }

  /**
   * Replace what the grant took by what was `used`. Resolves once the limiter
   * has it, or has been found unreachable (then it is retried by `maintain`);
   * never rejects. A LocalLimiter settles at the call.
   */
  /** @param at the time recorded with the settlement (a local limiter books it then, so the two agree) */
  async settle(grantId: string, used: Amounts, at?: number): Promise<void> {
    await this.#end(grantId, used, at);
  }

  /** Give everything the grant took back (it never ran); like `settle`, never rejects. */
  async release(grantId: string): Promise<void> {
    await this.#end(grantId, null);
  }

  /** @returns false when the limiter could not be reached (the grant is kept for retry) */
  async #end(grantId: string, used: Amounts | null, at?: number): Promise<boolean> {
    this.#unended.delete(grantId);
    try {
      await (used ? this.#l.settle(grantId, used, at) : this.#l.release(grantId));
      return true;
    } catch (err) {
      if (!isUnavailable(err)) {
        this.#onError(err);
        return true;
      }
      if (this.#unended.size >= MAX_UNENDED) {
        const oldest = this.#unended.keys().next();
        if (!oldest.done) this.#unended.delete(oldest.value);
      }
      this.#unended.set(grantId, used);
      return false;
    }
  }

  /** Settles and releases waiting for the limiter to answer again. */
  get unended(): number {
    return this.#unended.size;
  }

  /**
   * The reaper's round: retry unfinished settles and releases (stopping at
   * the first the limiter still does not answer), forget expired grants and
   * read the levels other instances changed. Never rejects.
   * @returns whether levels may have changed from outside (a shared limiter
   *   refreshed): what waits for them should be looked at again
   */
  async maintain(): Promise<boolean> {
    try {
      for (const [id, used] of Array.from(this.#unended)) if (!(await this.#end(id, used))) return false;
      await this.#l.expire();
      await this.#l.refresh();
      return this.#viewsLag;
    } catch (err) {
      if (isUnavailable(err)) this.#wentDown();
      else this.#onError(err);
      return false;
    }
  }

  /** An operator sets a resource's level (default: full). Resolves the level before, or null for an unknown resource. */
  reset(resource: string, level: number | undefined): Promise<number | null> {
    return this.#l.reset(resource, level);
  }

  /** The whole set of resources with their capacity, refill and pools, after an admin change. */
  configure(resources: Iterable<LimitedResource>): Promise<void> {
    return this.#l.configure(resources);
  }

  /** Current level and capacity of every resource, pools summed. */
  levels(): Map<string, ResourceLevel> {
    return this.#l.levels();
  }

  /** Every pool of a resource with its current level. */
  poolLevels(resource: string): PoolLevel[] {
    return this.#l.poolLevels(resource);
  }

  /** Whether a resource is split into more than its shared pool (then who draws decides whether it fits). */
  hasPools(resource: string): boolean {
    return this.#l.hasPools(resource);
  }
}
