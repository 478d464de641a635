/**
 * The live token buckets of one scheduler. Every change returns the new
 * levels of the buckets it touched so that the caller can write them in the
 * same store transaction as the state change that caused it.
 *
 * Invariant (SQLite): a change here and the store write it belongs to run in
 * one synchronous stretch of JavaScript, so nothing can observe one without
 * the other.
 */
import { fullBucket, refill, settle, giveBack as tbGiveBack, tryTake, waitFor, type BucketState } from '../core/token-bucket.ts';
import type { Resource } from '../model.ts';
import type { BucketWrites } from '../store/store.ts';

export type Amounts = Readonly<Record<string, number>>;

export class ResourceLedger {
  readonly #resources: ReadonlyMap<string, Resource>;
  readonly #state = new Map<string, BucketState>();

  constructor(resources: ReadonlyMap<string, Resource>, saved: ReadonlyMap<string, BucketState>, now: number) {
    this.#resources = resources;
    for (const [name, r] of resources) {
      const s = saved.get(name);
      // A capacity lowered in config since the last run must not leave a level above it.
      this.#state.set(name, s ? { level: Math.min(r.capacity, s.level), updatedAt: s.updatedAt } : fullBucket(r, now));
    }
  }

  /** Whether all of `needs` can be taken now; if not, the first short resource and its wait. */
  check(needs: Amounts, now: number): { ok: true } | { ok: false; resource: string; needed: number; waitMs: number } {
    for (const [name, amount] of Object.entries(needs)) {
      const r = this.#resources.get(name);
      const s = this.#state.get(name);
      if (!r || !s || amount <= 0) continue;
      const cur = refill(r, s, now);
      if (cur.level < amount) return { ok: false, resource: name, needed: amount, waitMs: waitFor(r, cur, amount, now) };
    }
    return { ok: true };
  }

  /** Take `needs` (call `check` first: a short bucket is an error here). */
  reserve(needs: Amounts, now: number): BucketWrites {
    const writes = new Map<string, BucketState>();
    for (const [name, amount] of Object.entries(needs)) {
      const r = this.#resources.get(name);
      const s = this.#state.get(name);
      if (!r || !s || amount <= 0) continue;
      const t = tryTake(r, s, amount, now);
      if (!t.ok) throw new Error(`ledger: ${name} cannot supply ${amount}; check() first`);
      this.#state.set(name, t.state);
      writes.set(name, t.state);
    }
    return writes;
  }

  /** Replace a reservation by actual use: unused units return, overuse is debited. */
  settle(reserved: Amounts, used: Amounts, now: number): BucketWrites {
    const writes = new Map<string, BucketState>();
    const names = new Set([...Object.keys(reserved), ...Object.keys(used)]);
    for (const name of names) {
      const r = this.#resources.get(name);
      const s = this.#state.get(name);
      if (!r || !s) continue;
      const next = settle(r, s, reserved[name] ?? 0, used[name] ?? 0, now);
      this.#state.set(name, next);
      writes.set(name, next);
    }
    return writes;
  }

  /** Return a whole reservation (cancelled before it could run). */
  giveBack(reserved: Amounts, now: number): BucketWrites {
    const writes = new Map<string, BucketState>();
    for (const [name, amount] of Object.entries(reserved)) {
      const r = this.#resources.get(name);
      const s = this.#state.get(name);
      if (!r || !s) continue;
      const next = tbGiveBack(r, s, amount, now);
      this.#state.set(name, next);
      writes.set(name, next);
    }
    return writes;
  }

  /** Current level of every bucket (refilled to `now`, not written back). */
  levels(now: number): Map<string, { level: number; capacity: number }> {
    const out = new Map<string, { level: number; capacity: number }>();
    for (const [name, r] of this.#resources) {
      const s = this.#state.get(name);
      if (s) out.set(name, { level: refill(r, s, now).level, capacity: r.capacity });
    }
    return out;
  }
}
