/**
 * Starvation holds (SchedulerOptions.holdAfterMs). A hold is granted to a
 * request that was refused for lack of a resource and then overtaken on
 * that resource in the same pass (a request ranked below it was admitted
 * because it needed less), once it has waited holdAfterMs. While held,
 * nothing else takes from that resource; the pass starts holders first.
 * Requests of equal size under saturation never overtake each other, so
 * holds never override priority; they only stop a large request from being
 * starved by smaller ones. A hold ends when its request leaves the queue.
 */
import type { Amounts } from './buckets.ts';
import type { Parts } from './parts.ts';
import type { SchedulerState } from './state.ts';

export class Holds {
  readonly #s: SchedulerState;
  readonly #p: Parts;
  /** resource → the request it is held for. */
  readonly #held = new Map<string, string>();
  /** resource → the first (highest-ranked) request refused for it in the current pass. */
  readonly #refusedThisPass = new Map<string, string>();
  #waitMs = Infinity;

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /** A pass (or a round of it) begins: nothing refused yet. */
  newPass(): void {
    this.#refusedThisPass.clear();
  }

  /** The request `resource` is held for, if any. */
  heldFor(resource: string): string | undefined {
    return this.#held.get(resource);
  }

  /** `id` was refused for lack of `resource` (the first refused in a pass ranks highest). */
  noteRefused(resource: string, id: string): void {
    if (!this.#refusedThisPass.has(resource)) this.#refusedThisPass.set(resource, id);
  }

  /** `id` is being started with `needs`: a request refused for one of them earlier in the pass has been overtaken. */
  noteAdmitted(id: string, needs: Amounts, now: number): void {
    for (const res of Object.keys(needs)) {
      const refused = this.#refusedThisPass.get(res);
      if (refused === undefined || refused === id || this.#held.has(res)) continue;
      const q = this.#s.queued.get(refused);
      if (q && now - q.enqueuedAt >= this.#s.o.holdAfterMs) this.#held.set(res, refused);
    }
  }

  /** Start every holder that now fits and may run. Returns how many started; `waitMs` then says when the next may fit. */
  launchHolders(): number {
    this.#waitMs = Infinity;
    let n = 0;
    for (const id of new Set(this.#held.values())) {
      const q = this.#s.queued.get(id);
      if (!q) continue;
      const now = this.#s.d.clock.now();
      const e = this.#p.gate.eligible({ id, clientId: q.clientId, group: '', klass: q.klass, basePoints: q.basePoints, enqueuedAt: q.enqueuedAt }, now);
      if (e.result !== 'ok') {
        if (e.waitMs !== undefined) this.#waitMs = Math.min(this.#waitMs, e.waitMs);
        continue;
      }
      this.#p.dispatch.launch(id, now);
      n++;
    }
    return n;
  }

  /** The shortest wait of a holder the last `launchHolders` could not start (Infinity: none to wait for). */
  get waitMs(): number {
    return this.#waitMs;
  }

  /** `id` left the queue: the holds it had end. */
  forget(id: string): void {
    for (const [res, holder] of this.#held) if (holder === id) this.#held.delete(res);
  }

  /** Resources held for long-waiting requests: resource → request id. */
  view(): Record<string, string> {
    return Object.fromEntries(this.#held);
  }
}
