/**
 * Units a worker takes from a bucket itself (SPEC section 7: POST
 * /internal/reserve, /internal/consume, /internal/release), for resources it
 * uses on its own account, such as e-mails sent mid-job.
 *
 * A reservation holds units until it is consumed, released or expires;
 * expired reservations give their units back (the worker did not say it used
 * them). Every change writes the new bucket levels with an audit row of kind
 * 'resource'. Reservations live in memory: after a restart, units still held
 * stay taken and come back only by refill, the safe side of the rate limit.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { Events } from '../events.ts';
import type { Resource } from '../model.ts';
import type { BucketWrites, Store } from '../store/store.ts';
import type { Buckets, Grant } from './buckets.ts';

export interface UnitReservation {
  readonly id: string;
  readonly worker: string;
  readonly resource: string;
  readonly amount: number;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Units per pool bucket (workers draw from shared pools). */
  readonly taken: Grant;
}

export type TakeOutcome = { readonly ok: true; readonly reservation: UnitReservation } | { readonly ok: false; readonly waitMs: number };

/** Longest a reservation may be held. @default 10 minutes */
export const MAX_RESERVATION_TTL_MS = 10 * 60_000;

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

  #write(buckets: BucketWrites, actor: string, data: Record<string, unknown>): void {
    void this.#store.adjustBuckets(buckets, { at: this.#clock.now(), actor, data });
  }

  /** Take units from the shared pool now, or say how long until they could be had. */
  #take(resource: string, amount: number, now: number): { ok: true; writes: BucketWrites; taken: Grant } | { ok: false; waitMs: number } {
    this.#resource(resource, amount);
    const need = { [resource]: amount };
    const c = this.#buckets.check(need, now);
    if (!c.ok) {
      this.#events.emit('bucket:throttled', resource, amount, c.waitMs);
      return { ok: false, waitMs: c.waitMs };
    }
    return { ok: true, ...this.#buckets.reserve(need, now) };
  }

  /** Hold `amount` units for `ttlMs`, or say how long until they could be had. */
  reserve(worker: string, resource: string, amount: number, ttlMs: number): TakeOutcome {
    const now = this.#clock.now();
    const t = this.#take(resource, amount, now);
    if (!t.ok) return t;
    const { writes, taken } = t;
    const reservation: UnitReservation = {
      id: `rsv_${randomUUID()}`, worker, resource, amount, createdAt: now, expiresAt: now + Math.min(MAX_RESERVATION_TTL_MS, Math.max(1, ttlMs)), taken,
    };
    this.#held.set(reservation.id, reservation);
    this.#write(writes, `worker:${worker}`, { action: 'reserve', reservation_id: reservation.id, resource, amount, expires_at: reservation.expiresAt });
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
  consume(worker: string, id: string, used?: number): { reservation: UnitReservation; used: number; returned: number } {
    const r = this.#mine(worker, id);
    const u = used ?? r.amount;
    if (!(u >= 0)) throw new AllotError('VALIDATION_ERROR', 'amount: must be 0 or more');
    this.#held.delete(id);
    const writes = this.#buckets.settle(r.taken, { [r.resource]: u }, this.#clock.now());
    this.#write(writes, `worker:${worker}`, { action: 'consume', reservation_id: id, resource: r.resource, amount: u, returned: r.amount - u });
    return { reservation: r, used: u, returned: r.amount - u };
  }

  /** Take units at once, without a reservation. */
  consumeNow(worker: string, resource: string, amount: number): { ok: true } | { ok: false; waitMs: number } {
    const t = this.#take(resource, amount, this.#clock.now());
    if (!t.ok) return t;
    this.#write(t.writes, `worker:${worker}`, { action: 'consume', resource, amount });
    return { ok: true };
  }

  /** Give a whole reservation back. */
  release(worker: string, id: string): UnitReservation {
    const r = this.#mine(worker, id);
    this.#held.delete(id);
    this.#write(this.#buckets.giveBack(r.taken, this.#clock.now()), `worker:${worker}`, { action: 'release', reservation_id: id, resource: r.resource, amount: r.amount });
    return r;
  }

  /** Return the units of expired reservations. Exposed for tests; the reaper calls it. */
  sweep(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const r of this.#held.values()) {
      if (r.expiresAt > now) continue;
      this.#held.delete(r.id);
      this.#write(this.#buckets.giveBack(r.taken, now), 'reaper', { action: 'expire', reservation_id: r.id, worker: r.worker, resource: r.resource, amount: r.amount });
      n++;
    }
    return n;
  }

  list(worker?: string): UnitReservation[] {
    return [...this.#held.values()].filter((r) => worker === undefined || r.worker === worker);
  }
}
