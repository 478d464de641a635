/**
 * The run queue's intake and bookkeeping: a request durably accepted (or
 * back from a retry wait, or handed over by a request it waited for) is
 * queued with what picking and starting it need, and the per-client,
 * per-resource and per-group counters are kept with the queue; taking one
 * out undoes all of that and ends its holds.
 */
import type { WorkRequest } from '../model.ts';
import type { Parts } from './parts.ts';
import { dec, primaryResource, type Queued, type SchedulerState } from './state.ts';

export class Intake {
  readonly #s: SchedulerState;
  readonly #p: Parts;

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /**
   * A request was durably accepted: queue it. Not one running here already:
   * in the scale-out mode the row behind a message may have been read while
   * PENDING and arrive after this instance claimed it (queued again, its
   * second launch replaced the running entry, the claim failed, and the
   * worker's answer, no longer awaited, was dropped: RUNNING until its
   * lease ran out).
   */
  enqueued(r: WorkRequest): void {
    if (this.#s.running.has(r.id)) return;
    this.push(r);
    this.#p.loop.kick();
  }

  /** Queue a PENDING request (once; one that follows an identical request in flight waits for that one instead). */
  push(r: WorkRequest): void {
    const s = this.#s;
    if (s.queued.has(r.id)) return;
    if (s.sharing.follows(r)) return; // Answered when the identical request in flight finishes.
    const deadline = r.optimization?.offpeak?.deadlineAt;
    const klass = r.klass === 2 && deadline !== undefined && s.d.clock.now() >= deadline ? 0 : r.klass;
    s.queued.set(r.id, {
      clientId: r.clientId, worker: r.policy.worker, needs: r.estimate.resources, basePoints: r.basePoints, priority: r.priority, klass, timeoutMs: r.policy.timeoutMs, enqueuedAt: r.createdAt,
      deadlineAt: klass === 2 ? (r.optimization?.offpeak?.deadlineAt ?? null) : null, readyAt: performance.now(),
    });
    s.queuedByClient.set(r.clientId, (s.queuedByClient.get(r.clientId) ?? 0) + 1);
    for (const [res, n] of Object.entries(r.estimate.resources)) s.queuedDemand.set(res, (s.queuedDemand.get(res) ?? 0) + n);
    const group = `${r.policy.worker}|${r.model ?? ''}`;
    if (!s.groupResource.has(group)) {
      s.groupResource.set(group, primaryResource(r.estimate.resources, r.model ? s.d.registry.modelResource(r.model)?.name : undefined));
    }
    s.queue.push({ id: r.id, clientId: r.clientId, group, klass, basePoints: r.basePoints, enqueuedAt: r.createdAt });
    s.groupOf.set(r.id, group);
  }

  /** Take a request out of the queue (it starts, or was cancelled); what it was queued with, if it was. */
  unqueue(id: string): Queued | undefined {
    const s = this.#s;
    const q = s.queued.get(id);
    if (!q) return undefined;
    s.queued.delete(id);
    s.queue.remove(id);
    s.groupOf.delete(id);
    dec(s.queuedByClient, q.clientId);
    for (const [res, n] of Object.entries(q.needs)) s.queuedDemand.set(res, Math.max(0, (s.queuedDemand.get(res) ?? 0) - n));
    this.#p.holds.forget(id);
    return q;
  }
}
