/**
 * Units a worker takes from a bucket itself (SPEC section 7: POST
 * /internal/reserve, /internal/consume, /internal/release), for resources it
 * uses on its own account, such as e-mails sent mid-job.
 *
 * A reservation is a limiter grant under its own id, drawn from shared pools
 * only (`SHARED_ONLY`). It holds units until it is consumed (settled),
 * released or expires; expired reservations give their units back (the
 * worker did not say it used them): the reaper's `sweep` releases them, and
 * the grant itself outlives the reservation by a margin so that it is still
 * there to release. Every change leaves an audit row of kind 'resource'.
 * Reservations are listed from memory: after a restart they are forgotten
 * here, and what they held comes back when their grants expire (a shared
 * limiter) or by refill only (a local one), the safe side of the rate limit.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { Events } from '../events.ts';
import { SHARED_ONLY } from '../limiter/limiter.ts';
import type { Resource } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { Buckets } from './buckets.ts';
import { toErr } from './state.ts';

export interface UnitReservation {
  /** Also the id of its grant in the limiter. */
  readonly id: string;
  readonly worker: string;
  readonly resource: string;
  readonly amount: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type TakeOutcome = { readonly ok: true; readonly reservation: UnitReservation } | { readonly ok: false; readonly waitMs: number };

/** Longest a reservation may be held. @default 10 minutes */
export const MAX_RESERVATION_TTL_MS = 10 * 60_000;
/** How much longer than its reservation a grant is held: long enough for the reaper to release it first. */
export const RESERVATION_GRANT_MARGIN_MS = 60_000;
/** A take without a reservation (consume at once) is settled at once; the grant's ttl only matters if that settle is lost. */
const IMMEDIATE_GRANT_TTL_MS = 60_000;

export class WorkerReservations {
  readonly #buckets: Buckets;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #events: Events;
  readonly #resources: ReadonlyMap<string, Resource>;
  readonly #held = new Map<string, UnitReservation>();

  constructor(deps: { buckets: Buckets; store: Store; clock: Clock; events: Events; resources: ReadonlyMap<string, Resource> }) {
    this.#buckets = deps.buckets;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#resources = deps.resources;
  }

  #resource(name: string, amount: number): Resource {
    const r = this.#resources.get(name);
    if (!r) throw new AllotError('VALIDATION_ERROR', `resource: no resource named "${name}" (known: ${[...this.#resources.keys()].join(', ')})`);
    if (!(amount > 0)) throw new AllotError('VALIDATION_ERROR', 'amount: must be more than 0');
    if (amount > r.capacity) throw new AllotError('VALIDATION_ERROR', `amount: ${amount} is more than the capacity of "${name}" (${r.capacity}); it can never be granted`);
    return r;
  }

  /** The audit row of a change (not awaited: it joins the store's next commit; a failure is reported, the units stay as the limiter has them). */
  #audit(actor: string, data: Record<string, unknown>): void {
    void this.#store
      .appendAudit({ at: this.#clock.now(), requestId: null, clientId: null, kind: 'resource', from: null, to: null, actor, data })
      .catch((err: unknown) => this.#events.emit('worker:error', 'audit', toErr(err)));
  }

  /** Take units from the shared pools under `grantId` now, or say how long until they could be had. Rejects as unavailable (503 QUEUE_BACKUP) when the limiter cannot be reached. */
  async #take(grantId: string, resource: string, amount: number, ttlMs: number): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    this.#resource(resource, amount);
    const t = await this.#buckets.take(grantId, { [resource]: amount }, SHARED_ONLY, ttlMs);
    if (!t.ok) {
      this.#events.emit('bucket:throttled', resource, amount, t.waitMs);
      return { ok: false, waitMs: t.waitMs };
    }
    return { ok: true };
  }

  /** Hold `amount` units for `ttlMs`, or say how long until they could be had. */
  async reserve(worker: string, resource: string, amount: number, ttlMs: number): Promise<TakeOutcome> {
    const id = `rsv_${randomUUID()}`;
    const holdMs = Math.min(MAX_RESERVATION_TTL_MS, Math.max(1, ttlMs));
    const t = await this.#take(id, resource, amount, holdMs + RESERVATION_GRANT_MARGIN_MS);
    if (!t.ok) return t;
    const now = this.#clock.now();
    const reservation: UnitReservation = { id, worker, resource, amount, createdAt: now, expiresAt: now + holdMs };
    this.#held.set(id, reservation);
    this.#audit(`worker:${worker}`, { action: 'reserve', reservation_id: id, resource, amount, expires_at: reservation.expiresAt });
    return { ok: true, reservation };
  }

  #mine(worker: string, id: string): UnitReservation {
    const r = this.#held.get(id);
    if (!r || r.worker !== worker) throw new AllotError('NOT_FOUND', `No reservation ${id} held by worker "${worker}" (consumed, released or expired)`);
    return r;
  }

  /**
   * Settle a reservation at `used` units (default: all of it). Fewer go back
   * to the bucket; more are debited as overuse.
   */
  async consume(worker: string, id: string, used?: number): Promise<{ reservation: UnitReservation; used: number; returned: number }> {
    const r = this.#mine(worker, id);
    const u = used ?? r.amount;
    if (!(u >= 0)) throw new AllotError('VALIDATION_ERROR', 'amount: must be 0 or more');
    this.#held.delete(id);
    await this.#buckets.settle(id, { [r.resource]: u });
    this.#audit(`worker:${worker}`, { action: 'consume', reservation_id: id, resource: r.resource, amount: u, returned: r.amount - u });
    return { reservation: r, used: u, returned: r.amount - u };
  }

  /** Take units at once, without a reservation. */
  async consumeNow(worker: string, resource: string, amount: number): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    const grantId = `use_${randomUUID()}`;
    const t = await this.#take(grantId, resource, amount, IMMEDIATE_GRANT_TTL_MS);
    if (!t.ok) return t;
    await this.#buckets.settle(grantId, { [resource]: amount });
    this.#audit(`worker:${worker}`, { action: 'consume', resource, amount });
    return { ok: true };
  }

  /** Give a whole reservation back. */
  async release(worker: string, id: string): Promise<UnitReservation> {
    const r = this.#mine(worker, id);
    this.#held.delete(id);
    await this.#buckets.release(id);
    this.#audit(`worker:${worker}`, { action: 'release', reservation_id: id, resource: r.resource, amount: r.amount });
    return r;
  }

  /** Return the units of expired reservations; resolves how many expired. Exposed for tests; the reaper calls it. */
  async sweep(): Promise<number> {
    const now = this.#clock.now();
    const expired = [...this.#held.values()].filter((r) => r.expiresAt <= now);
    for (const r of expired) {
      this.#held.delete(r.id);
      await this.#buckets.release(r.id);
      this.#audit('reaper', { action: 'expire', reservation_id: r.id, worker: r.worker, resource: r.resource, amount: r.amount });
    }
    return expired.length;
  }

  list(worker?: string): UnitReservation[] {
    return [...this.#held.values()].filter((r) => worker === undefined || r.worker === worker);
  }
}
