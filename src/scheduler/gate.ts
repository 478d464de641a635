/**
 * Whether a queued request may start now, asked by the pass for each
 * candidate: its client's concurrency, a hold on one of its resources for
 * an older request, its worker's free slots and circuit breaker, and last
 * its buckets, drawn as its client draws (pools it may use, owners waiting).
 * A refusal for buckets is noted for holds and says how long until it fits.
 */
import type { Pool } from '../core/pools.ts';
import type { Eligibility, QueuedItem } from '../core/run-queue.ts';
import type { DrawContext } from './buckets.ts';
import type { Parts } from './parts.ts';
import type { SchedulerState } from './state.ts';

export class Gate {
  readonly #s: SchedulerState;
  readonly #p: Parts;

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /** Which pool owners have work waiting (they lend nothing). */
  readonly #ownerWaiting = (p: Pool): boolean => {
    if (p.client !== undefined) return (this.#s.queuedByClient.get(p.client) ?? 0) > 0;
    for (const id of this.#s.queuedByClient.keys()) if (this.#s.d.registry.client(id)?.tier === p.tier) return true;
    return false;
  };

  /** Who draws for a queued request. */
  drawContext(clientId: string): DrawContext {
    const client = this.#s.d.registry.client(clientId);
    return { who: client ? { clientId, tier: client.tier } : undefined, ownerWaiting: this.#ownerWaiting };
  }

  eligible(it: QueuedItem, now: number): { result: Eligibility; waitMs?: number } {
    const q = this.#s.queued.get(it.id);
    if (!q) return { result: 'ok' };
    // The limiter could not be reached a moment ago: nothing starts without a granted take.
    const down = this.#s.buckets.unavailableMs();
    if (down > 0) return { result: 'group', waitMs: down };
    const reg = this.#s.d.registry;
    const client = reg.client(q.clientId);
    if (client && (this.#s.runningByClient.get(q.clientId) ?? 0) >= reg.maxConcurrent(client)) return { result: 'client' };
    for (const res of Object.keys(q.needs)) {
      const holder = this.#p.holds.heldFor(res);
      if (holder !== undefined && holder !== it.id) return { result: 'group' }; // Held for an older request.
    }
    const w = reg.worker(q.worker);
    if (w && this.#s.slots.taken(w.name) >= w.maxConcurrency) return { result: 'group' };
    // A pull worker gets work only against the polls waiting for it: what is on its way to them (launched, not yet given) must fit.
    if (w?.transport === 'pull') {
      const pull = this.#s.d.transports.pull;
      if (this.#s.slots.taken(w.name) - pull.outstanding(w.name) >= pull.room(w.name)) return { result: 'group' };
    }
    if (w && !reg.workerAvailable(w.name)) return { result: 'group' }; // Out of rotation: its circuit breaker is open.
    // At the pass's time, the one the take and the claim are booked at if it starts.
    const c = this.#s.buckets.check(q.needs, this.drawContext(q.clientId), now);
    if (!c.ok) {
      this.#p.holds.noteRefused(c.resource, it.id);
      this.#s.d.events.emit('bucket:throttled', c.resource, c.needed, c.waitMs);
      // With reserved or dedicated pools, whether it fits depends on who draws: another
      // client of the same group (a pool's owner) may fit, so skip only this client.
      return { result: this.#s.buckets.hasPools(c.resource) ? 'client' : 'group', waitMs: c.waitMs };
    }
    return { result: 'ok' };
  }
}
