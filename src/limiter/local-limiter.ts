/**
 * The Limiter of a single process (the embedded SQLite deployment): the
 * ResourceLedger's buckets, with live grants kept in memory.
 *
 * Every operation changes the buckets synchronously, at the call, before its
 * promise settles; then the new levels of the pools it changed go to the
 * levels port (the SQLite store implements it), so a restart starts from
 * them. A restart forgets live grants: what they took stays taken and comes
 * back by refill only, the safe side, as with `expire`.
 *
 * Time is the injected clock's, never earlier than the latest time an
 * operation used (the ledger's rule): a clock stepping back credits no
 * refill twice, and grants expire by that same time (a grant taken after a
 * step back lives up to the step longer by the clock: the late side, on
 * which a settlement is still accepted).
 */
import type { Clock } from '../core/clock.ts';
import { unavailable } from '../core/errors.ts';
import type { BucketState } from '../core/token-bucket.ts';
import { ResourceLedger, type BucketWrites } from './ledger.ts';
import type { Amounts, CheckResult, DrawContext, LimitedResource, Limiter, PoolLevel, ResourceLevel, TakeResult } from './limiter.ts';
import { checkAmounts, checkGrantId, checkLevel, checkTtl } from './validate.ts';

export type { BucketWrites } from './ledger.ts';

/** An operator's change to levels, for the audit log; grant operations carry none (their request's own audit covers them). */
export interface LevelsAudit {
  readonly at: number;
  readonly action: 'reset' | 'configure';
  readonly data: Readonly<Record<string, unknown>>;
}

/** Where the local limiter keeps levels across restarts. */
export interface LevelsPort {
  /** Levels the last run left, by pool key. A pool without one starts full. */
  load(): ReadonlyMap<string, BucketState> | Promise<ReadonlyMap<string, BucketState>>;
  /** The new levels of the pools one operation changed (absolute values: later writes replace earlier ones). */
  write(levels: BucketWrites, audit?: LevelsAudit): void | Promise<void>;
}

/** A levels port in memory (tests; a process that keeps nothing across restarts). */
export function memoryLevels(): LevelsPort & { readonly saved: Map<string, BucketState>; readonly audits: LevelsAudit[] } {
  const saved = new Map<string, BucketState>();
  const audits: LevelsAudit[] = [];
  return {
    saved,
    audits,
    load: () => new Map(saved),
    write(levels, audit) {
      for (const [k, v] of levels) saved.set(k, v);
      if (audit) audits.push(audit);
    },
  };
}

interface Grant {
  readonly taken: Amounts;
  readonly expiresAt: number;
}

export interface LocalLimiterOptions {
  readonly resources: Iterable<LimitedResource>;
  readonly clock: Clock;
  readonly levels: LevelsPort;
}

export class LocalLimiter implements Limiter {
  readonly capabilities = Object.freeze({ shared: false });
  readonly #ledger: ResourceLedger;
  readonly #clock: Clock;
  readonly #port: LevelsPort;
  readonly #grants = new Map<string, Grant>();
  #high = -Infinity;
  #closed = false;

  private constructor(o: LocalLimiterOptions, saved: ReadonlyMap<string, BucketState>) {
    this.#clock = o.clock;
    this.#port = o.levels;
    this.#ledger = new ResourceLedger(new Map([...o.resources].map((r) => [r.name, r])), saved, this.#now());
  }

  /** Open on the levels the port saved (none: every pool starts full). */
  static async open(o: LocalLimiterOptions): Promise<LocalLimiter> {
    return new LocalLimiter(o, await o.levels.load());
  }

  /** @param at the caller's time for this change (it records it with the change); never behind the latest used */
  #now(at?: number): number {
    const t = at ?? this.#clock.now();
    if (t > this.#high) this.#high = t;
    return this.#high;
  }

  #open(): void {
    if (this.#closed) throw unavailable('limiter', 'The limiter is closed', { retryAfterS: 1 });
  }

  async take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number): Promise<TakeResult> {
    const { result, written } = this.#take(grantId, needs, ctx, ttlMs);
    await written;
    return result;
  }

  takeNow(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number, at?: number): TakeResult {
    const { result, written } = this.#take(grantId, needs, ctx, ttlMs, at);
    // The SQLite port writes at the call, into the open group commit; a failed commit stops the process.
    void written.catch(() => {});
    return result;
  }

  #take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number, at?: number): { result: TakeResult; written: Promise<void> } {
    this.#open();
    checkGrantId(grantId);
    checkAmounts('needs', needs);
    checkTtl(ttlMs);
    const live = this.#grants.get(grantId);
    if (live) return { result: { ok: true, taken: live.taken }, written: Promise.resolve() };
    const now = this.#now(at);
    const t = this.#ledger.take(needs, now, ctx);
    if (!t.ok) return { result: t, written: Promise.resolve() };
    this.#grants.set(grantId, { taken: t.taken, expiresAt: now + ttlMs });
    return { result: { ok: true, taken: t.taken }, written: t.writes.size > 0 ? Promise.resolve(this.#port.write(t.writes)) : Promise.resolve() };
  }

  async settle(grantId: string, used: Amounts, at?: number): Promise<boolean> {
    this.#open();
    checkGrantId(grantId);
    checkAmounts('used', used);
    const g = this.#grants.get(grantId);
    if (!g) return false;
    this.#grants.delete(grantId);
    const writes = this.#ledger.settle(g.taken, used, this.#now(at));
    if (writes.size > 0) await this.#port.write(writes);
    return true;
  }

  async release(grantId: string): Promise<boolean> {
    this.#open();
    checkGrantId(grantId);
    const g = this.#grants.get(grantId);
    if (!g) return false;
    this.#grants.delete(grantId);
    const writes = this.#ledger.giveBack(g.taken, this.#now());
    if (writes.size > 0) await this.#port.write(writes);
    return true;
  }

  async expire(): Promise<number> {
    this.#open();
    const now = this.#now();
    let n = 0;
    for (const [id, g] of this.#grants) {
      if (g.expiresAt > now) continue;
      this.#grants.delete(id);
      n++;
    }
    return n;
  }

  async reset(resource: string, level?: number): Promise<number | null> {
    this.#open();
    checkLevel(level);
    const now = this.#now();
    const was = this.#ledger.levels(now).get(resource)?.level;
    if (was === undefined) return null;
    const writes = this.#ledger.reset(resource, level, now);
    await this.#port.write(writes, { at: now, action: 'reset', data: { resource, level: level ?? 'full', was } });
    return was;
  }

  async configure(resources: Iterable<LimitedResource>): Promise<void> {
    this.#open();
    const list = [...resources];
    const now = this.#now();
    const writes = this.#ledger.reconfigureAll(list, now);
    await this.#port.write(writes, { at: now, action: 'configure', data: { resources: list.map((r) => r.name) } });
  }

  levels(): Map<string, ResourceLevel> {
    return this.#ledger.levels(this.#now());
  }

  poolLevels(resource: string): PoolLevel[] {
    return this.#ledger.poolLevels(resource, this.#now());
  }

  hasPools(resource: string): boolean {
    return this.#ledger.hasPools(resource);
  }

  check(needs: Amounts, ctx: DrawContext, at?: number): CheckResult {
    return this.#ledger.check(needs, this.#now(at), ctx);
  }

  /** Nothing to read: the buckets are here. */
  async refresh(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
