/**
 * What a finished request leaves for others (SPEC section 5): its result in
 * the cache for the template's TTL, the identical requests that waited for
 * it answered at no cost, and the savings ledger's rows for both and for a
 * downgrade. Identical cacheable requests in flight at once run once
 * (in-flight.ts); if the one running ends without a result, the others run
 * on their own.
 */
import { usageCost } from '../core/cost.ts';
import type { Clock } from '../core/clock.ts';
import type { Events } from '../events.ts';
import type { WorkRequest } from '../model.ts';
import type { Registry } from '../service/registry.ts';
import type { Store } from '../store/store.ts';
import { InFlightDuplicates } from './in-flight.ts';

/** A follower is claimed and completed in one go: this lease only fences that. */
const FOLLOWER_LEASE_MS = 60_000;

export interface ResultSharingDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: Events;
  readonly registry: Registry;
  readonly instanceId: string;
}

/** The result-cache key of a request that should share or reuse results, if any. */
export function cacheKeyOf(r: WorkRequest): string | undefined {
  const c = r.optimization?.cache;
  return c && !c.hit && (r.policy.cacheTtlS ?? 0) > 0 ? c.key : undefined;
}

export class ResultSharing {
  readonly #d: ResultSharingDeps;
  readonly #duplicates = new InFlightDuplicates();

  constructor(d: ResultSharingDeps) {
    this.#d = d;
  }

  /** True when `r` waits for an identical request already in flight: it is answered when that one finishes. */
  follows(r: WorkRequest): boolean {
    const key = cacheKeyOf(r);
    return key !== undefined && this.#duplicates.follow(r.id, key);
  }

  /** `done` completed: record its downgrade saving, cache its result, answer its followers. */
  async completed(done: WorkRequest, now: number): Promise<void> {
    await this.#downgradeSaving(done, now);
    await this.#share(done);
  }

  /** `id` ended without a result: the requests that waited for it, still PENDING, to run on their own. */
  async endedWithout(id: string): Promise<WorkRequest[]> {
    const ended = this.#duplicates.ended(id);
    if (!ended) return [];
    const out: WorkRequest[] = [];
    for (const fid of ended.followers) {
      const r = await this.#d.store.getRequest(fid);
      if (r?.state === 'PENDING') out.push(r);
    }
    return out;
  }

  async #share(done: WorkRequest): Promise<void> {
    const key = cacheKeyOf(done);
    if (key === undefined) return;
    const { store, clock, events } = this.#d;
    const now = clock.now();
    await store.storeCache({
      key, template: done.template, output: done.output, usage: done.usage, sourceRequestId: done.id, createdAt: now, expiresAt: now + (done.policy.cacheTtlS ?? 0) * 1000,
    });
    for (const id of this.#duplicates.ended(done.id)?.followers ?? []) {
      const t = clock.now();
      const claimed = await store.claim(id, {
        owner: this.#d.instanceId, now: t, leaseMs: FOLLOWER_LEASE_MS, reserved: {}, start: { deadlineAt: t, leaseExpiresAt: t + FOLLOWER_LEASE_MS },
      });
      if (!claimed) continue; // Cancelled meanwhile.
      const served = await store.complete(id, claimed.leaseToken, {
        now: t, output: done.output, settlement: { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, returned: {} },
        // Another client's request id is never shown: ids are the client's own.
        optimization: { cache: { key, hit: true, sourceRequestId: claimed.clientId === done.clientId ? done.id : undefined } },
      });
      if (served) {
        events.emit('request:completed', served, 0);
        await store.recordSaving({
          at: t, requestId: id, clientId: served.clientId, template: served.template, strategy: 'cache', usdNano: done.costNano, calls: 1, bytes: 0,
          method: 'the cost of the identical request it waited for',
        });
      }
    }
  }

  /** A downgraded request saved the difference between its usage at the requested model's price and what it cost. */
  async #downgradeSaving(done: WorkRequest, now: number): Promise<void> {
    const d = done.optimization?.downgrade;
    if (!d || !done.usage) return;
    const reg = this.#d.registry;
    const requested = reg.modelResource(d.requested);
    if (!requested) return;
    const asAsked = usageCost(done.usage, requested.price, reg.priceOf).nano;
    await this.#d.store.recordSaving({
      at: now, requestId: done.id, clientId: done.clientId, template: done.template, strategy: 'downgrade', usdNano: asAsked - done.costNano, calls: 0, bytes: 0,
      method: `the same usage at ${d.requested}'s price`,
    });
  }
}
