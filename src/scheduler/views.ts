/**
 * Read-only views of the scheduler for the API, metrics, alerts and
 * admission: queue depth and levels, a request's position and live score,
 * running counts, bucket and pool levels, and the expected wait for a
 * resource. Nothing here changes state.
 */
import { levelFor, score, waitPoints, type Score } from '../core/priority.ts';
import type { WorkRequest } from '../model.ts';
import type { PoolLevel } from './buckets.ts';
import { primaryResource, type SchedulerState } from './state.ts';

export class Views {
  readonly #s: SchedulerState;

  constructor(s: SchedulerState) {
    this.#s = s;
  }

  get queueDepth(): number {
    return this.#s.queue.size;
  }

  get runningCount(): number {
    return this.#s.running.size;
  }

  position(id: string): number | undefined {
    const now = this.#s.d.clock.now();
    const active = this.#s.activeClients();
    return this.#s.queue.position(id, now, (c, g) => this.#s.fairness.points(c, this.#s.groupResource.get(g) ?? '', active, now));
  }

  /** The live priority of a request: parts as now, with wait and fairness current. */
  liveScore(r: WorkRequest): Score & { level: string } {
    const now = this.#s.d.clock.now();
    const fair = this.#s.fairness.points(r.clientId, primaryResource(r.estimate.resources, r.model ? this.#s.d.registry.modelResource(r.model)?.name : undefined), this.#s.activeClients(), now);
    const waited = r.state === 'PENDING' || r.state === 'WAITING_RETRY' ? now - r.createdAt : (r.startedAt ?? now) - r.createdAt;
    const s = score(r.priority.parts.tier, r.urgency, waited, this.#s.o.starvationMs, fair);
    const requested = r.klass === 1 ? 'batch' : r.klass === 2 ? 'deferred' : undefined;
    return { ...s, level: levelFor(s.total, requested) };
  }

  /** Queued requests per level, and the oldest wait per level (ms). */
  queueStats(): Record<string, { depth: number; oldestWaitMs: number }> {
    const now = this.#s.d.clock.now();
    const out: Record<string, { depth: number; oldestWaitMs: number }> = {};
    for (const lv of ['immediate', 'fast', 'normal', 'batch', 'deferred']) out[lv] = { depth: 0, oldestWaitMs: 0 };
    for (const it of this.#s.queue.items()) {
      const total = it.basePoints + waitPoints(now - it.enqueuedAt, this.#s.o.starvationMs) + 10;
      const lv = levelFor(total, it.klass === 1 ? 'batch' : it.klass === 2 ? 'deferred' : undefined);
      const s = out[lv] as { depth: number; oldestWaitMs: number };
      s.depth++;
      s.oldestWaitMs = Math.max(s.oldestWaitMs, now - it.enqueuedAt);
    }
    return out;
  }

  bucketLevels(): Map<string, { level: number; capacity: number }> {
    return this.#s.buckets.levels();
  }

  /** Pool levels of a resource, for views. */
  poolLevels(resource: string): PoolLevel[] {
    return this.#s.buckets.poolLevels(resource);
  }

  runningFor(clientId: string): number {
    return this.#s.runningByClient.get(clientId) ?? 0;
  }

  runningOnWorker(name: string): number {
    return this.#s.slots.taken(name);
  }

  waitingRetries(): number {
    return this.#s.retries.size;
  }

  /** The most of `resource` one queued request needs (0 when none waits for it). */
  largestQueuedNeed(resource: string): number {
    let max = 0;
    for (const q of this.#s.queued.values()) max = Math.max(max, q.needs[resource] ?? 0);
    return max;
  }

  /**
   * How long a new request needing `amount` of `resource` is expected to
   * wait for it: the queued backlog on that resource plus its own need,
   * less what the bucket holds now, at the refill rate. 0 when it would fit.
   */
  expectedWaitMs(resource: string, amount: number): number {
    const r = this.#s.d.registry.resources.get(resource);
    const lv = this.#s.buckets.levels().get(resource);
    if (!r || !lv) return 0;
    const short = (this.#s.queuedDemand.get(resource) ?? 0) + amount - Math.max(0, lv.level);
    if (short <= 0) return 0;
    return r.refillPerS > 0 ? Math.ceil((short * 1000) / r.refillPerS) : Infinity;
  }
}
