/**
 * Deferred (off-peak) work: whether it may run now (an off-peak window, or
 * a while of low utilization, sampled by the reaper), and requests whose
 * template deferred them running as ordinary work once their deadline has
 * come.
 */
import { deferredAllowed, nextWindowStart, observeUtilization, type DeferredReason, type LowUtilState } from '../core/offpeak.ts';
import type { Parts } from './parts.ts';
import type { SchedulerState } from './state.ts';

export class Deferred {
  readonly #s: SchedulerState;
  readonly #p: Parts;
  #lowUtil: LowUtilState = { since: null };

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /** Whether the policy lets deferred work run now (the pass asks only while some is queued). */
  allowedNow(): boolean {
    return deferredAllowed(this.#s.o.deferred, this.#lowUtil, this.#s.d.clock.now()).allowed;
  }

  /**
   * Utilization as deferred work sees it: the fullest bucket's used share,
   * and 1 while scored (non-deferred) work is waiting.
   */
  #utilization(): number {
    if (this.#s.queue.nonDeferredSize > 0) return 1;
    let u = 0;
    for (const b of this.#s.buckets.levels().values()) u = Math.max(u, 1 - Math.max(0, b.level) / b.capacity);
    return u;
  }

  /** Requests a template deferred to off-peak run as ordinary work once their deadline has come. */
  runOverdue(now: number): void {
    for (const [id, q] of this.#s.queued) {
      if (q.deadlineAt === null || now < q.deadlineAt) continue;
      const group = this.#s.groupOf.get(id) as string;
      this.#s.queue.remove(id);
      this.#s.queued.set(id, { ...q, klass: 0, deadlineAt: null });
      this.#s.queue.push({ id, clientId: q.clientId, group, klass: 0, basePoints: q.basePoints, enqueuedAt: q.enqueuedAt });
      this.#p.loop.kick();
    }
  }

  /** Sample utilization (the reaper does, every interval) for the low-utilization rule. */
  observe(now: number): void {
    const low = this.#s.o.deferred.lowUtilization;
    if (low) this.#lowUtil = observeUtilization(this.#lowUtil, this.#utilization(), now, low.below);
  }

  /** Whether deferred work may run now, why, and when the next off-peak window opens. */
  status(): { allowed: boolean; reason: DeferredReason; nextWindowAt: number | null } {
    const now = this.#s.d.clock.now();
    const d = deferredAllowed(this.#s.o.deferred, this.#lowUtil, now);
    return { ...d, nextWindowAt: nextWindowStart(now, this.#s.o.deferred.windows, this.#s.o.deferred.timeZone) };
  }
}
