/**
 * The scheduler's one door to its token buckets: every check, reservation,
 * settlement, give-back, reset, reconfiguration and level read goes through
 * a `Buckets`, and this is the only file that touches the ResourceLedger.
 * Replacing the ledger by a shared limiter (take, settle and release by
 * grant) is then a change to this file, plus an `await` where its methods
 * are called.
 *
 * Invariant (SQLite, see ledger.ts): each change returns the bucket writes
 * that belong to the store write of the state change that caused it; the
 * caller makes both in one synchronous stretch.
 */
import { AllotError } from '../core/errors.ts';
import type { BucketState } from '../core/token-bucket.ts';
import type { Resource } from '../model.ts';
import type { BucketWrites } from '../store/store.ts';
import { ResourceLedger, type Amounts, type DrawContext, type PoolLevel } from './ledger.ts';

export type { Amounts, DrawContext, PoolLevel };

/** What one reservation took, per pool bucket: settle and giveBack need it back. (A limiter's grant id would take its place.) */
export type Grant = Amounts;

export type CheckResult = { ok: true } | { ok: false; resource: string; needed: number; waitMs: number };

export class Buckets {
  #ledger: ResourceLedger | undefined;

  /** Load the buckets at start, at the levels the store saved. Nothing is drawn before. */
  load(resources: ReadonlyMap<string, Resource>, saved: ReadonlyMap<string, BucketState>, now: number): void {
    this.#ledger = new ResourceLedger(resources, saved, now);
  }

  get loaded(): boolean {
    return this.#ledger !== undefined;
  }

  #l(): ResourceLedger {
    if (!this.#ledger) throw new AllotError('INTERNAL_ERROR', 'The scheduler has not started');
    return this.#ledger;
  }

  /** Whether all of `needs` can be taken now; if not, the first short resource and its wait. */
  check(needs: Amounts, now: number, ctx?: DrawContext): CheckResult {
    return this.#l().check(needs, now, ctx);
  }

  /** Take `needs` (after a `check` with the same context): the bucket writes, and the grant to settle or give back. */
  reserve(needs: Amounts, now: number, ctx?: DrawContext): { writes: BucketWrites; taken: Grant } {
    return this.#l().reserve(needs, now, ctx);
  }

  /** Replace what a grant took by what was used, per resource. */
  settle(taken: Grant, used: Amounts, now: number): BucketWrites {
    return this.#l().settle(taken, used, now);
  }

  /** Return everything a grant took. */
  giveBack(taken: Grant, now: number): BucketWrites {
    return this.#l().giveBack(taken, now);
  }

  /** An operator sets a resource's level (default: full). */
  reset(resource: string, level: number | undefined, now: number): BucketWrites {
    return this.#l().reset(resource, level, now);
  }

  /** Apply a resource's new capacity, refill rate or pools. */
  reconfigure(resource: Resource, now: number): BucketWrites {
    return this.#l().reconfigure(resource, now);
  }

  /** Current level and capacity of every resource, pools summed. */
  levels(now: number): Map<string, { level: number; capacity: number }> {
    return this.#l().levels(now);
  }

  /** Every pool of a resource with its current level. */
  poolLevels(resource: string, now: number): PoolLevel[] {
    return this.#l().poolLevels(resource, now);
  }

  /** Whether a resource is split into more than its shared pool (then who draws decides whether it fits). */
  hasPools(resource: string): boolean {
    return this.#l().hasPools(resource);
  }
}
