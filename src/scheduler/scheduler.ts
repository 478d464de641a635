/**
 * The scheduler: take the best runnable request, take its resources from
 * the limiter, claim it under a lease, dispatch it, reconcile what it used. This class is
 * the facade the rest of Allot uses (built with options.ts); the work is done
 * by its parts (built in parts.ts, sharing the state in state.ts):
 *   loop.ts       start/stop, pause/resume, kick and the scheduling pass
 *   intake.ts     queueing accepted requests, and the queue's counters
 *   gate.ts       whether a queued request may start now
 *   holds.ts      starvation holds for long-waiting large requests
 *   dispatch.ts   launch, claim, and the call to the worker (single, pipeline, batch)
 *   reconcile.ts  settle and complete/retry/fail, reaper, retry promotion, cancel
 *   deferred.ts   when off-peak (deferred) work may run
 *   progress.ts   workers' progress reports
 *   views.ts      read-only views (queue, levels, expected wait)
 *   bucket-admin.ts  operators' changes to resources' buckets
 *   buckets.ts    the one door to the token buckets (all limiter access)
 *
 * Invariants:
 * - A request is in exactly one of: the run queue (PENDING), the retry timer
 *   set (WAITING_RETRY), `running` (PREPARING/RUNNING under our lease), or
 *   none (terminal, or owned by nobody until the reaper takes it back).
 * - Whoever removes a request from `running` ends its reservation: the
 *   dispatcher when the worker answers, `cancel`, or the reaper. A result
 *   that arrives after that is stale: it is neither recorded nor charged.
 * - Nothing is dispatched without a granted take (buckets.ts). Each attempt
 *   has its own grant, ended once: settled at what it used, released if it
 *   never ran, or left to expire when the reaper takes the request back
 *   (its units count as used).
 *
 * One scheduler runs per store (SPEC: one elected scheduler). It learns of
 * new work through `enqueued()`; on start it rebuilds its queue from the store.
 */
import { AllotError } from '../core/errors.ts';
import type { Score } from '../core/priority.ts';
import type { DeferredReason } from '../core/offpeak.ts';
import type { WorkRequest } from '../model.ts';
import type { PoolLevel } from './buckets.ts';
import type { SchedulerDeps, SchedulerOptions } from './options.ts';
import { Parts } from './parts.ts';
import { SchedulerState, toErr } from './state.ts';
import type { WorkerReservations } from './worker-reservations.ts';

export type { SchedulerDeps, SchedulerOptions } from './options.ts';

/** The store setting that keeps an admin's pause (POST /admin/scheduler/stop) across instances and restarts. */
export const PAUSED_SETTING = 'scheduler_paused';

export class Scheduler {
  readonly #s: SchedulerState;
  readonly #p: Parts;

  constructor(deps: SchedulerDeps, opts: SchedulerOptions) {
    this.#s = new SchedulerState(deps, opts, () => void this.promoteDue().catch((err) => this.#s.d.events.emit('worker:error', 'retry-timer', toErr(err))));
    this.#p = new Parts(this.#s);
  }

  // ---- the loop (loop.ts) ----------------------------------------------------------

  /** Rebuild state from the store and begin. Idempotent: a second call returns the same promise. */
  start(leading = true): Promise<void> {
    return this.#p.loop.start(leading);
  }

  /** Stop dispatching, wait for running work to finish (at most `drainMs`), then abort the rest. */
  stop(drainMs?: number): Promise<void> {
    return this.#p.loop.stop(drainMs);
  }

  /** Admin: stop starting new work (accepting continues). */
  pause(): void {
    this.#p.loop.pause();
  }

  resume(): void {
    this.#p.loop.resume();
  }

  get paused(): boolean {
    return this.#p.loop.paused;
  }

  /** Ask for a scheduling pass soon (coalesced while one is pending or running). */
  kick(): void {
    this.#p.loop.kick();
  }

  /** Become the scheduler (elected leader) or stop scheduling (deposed); see Loop.lead. */
  lead(on: boolean): Promise<void> {
    return this.#p.loop.lead(on);
  }

  /** Whether this instance schedules (always, alone; the elected leader, scaled out). */
  get leading(): boolean {
    return this.#p.loop.leading;
  }

  /** Catch up with the store: queue what is PENDING there, forget what is not (missed messages, a new leader). */
  resync(): Promise<void> {
    return this.#p.loop.resync();
  }

  /** Another instance started or ended a request this one has queued as a replica: take it out. */
  forget(id: string): void {
    if (!this.#p.loop.leading) this.#p.intake.unqueue(id);
  }

  /** Resolves once no pass is pending or running and nothing launched is in flight. */
  settled(): Promise<void> {
    return this.#p.loop.settled();
  }

  // ---- intake (intake.ts) ----------------------------------------------------------

  /** A request was durably accepted: queue it. */
  enqueued(r: WorkRequest): void {
    this.#p.intake.enqueued(r);
  }

  // ---- holds (holds.ts) ------------------------------------------------------------

  /** Resources held for long-waiting requests: resource → request id. */
  holds(): Record<string, string> {
    return this.#p.holds.view();
  }

  // ---- reconcile (reconcile.ts) ----------------------------------------------------

  /** Move WAITING_RETRY requests whose time has come back to PENDING. Exposed for tests. */
  promoteDue(): Promise<number> {
    return this.#p.reconcile.promoteDue();
  }

  /** Take back requests whose lease expired, and units whose reservation expired. Exposed for tests. */
  reap(): Promise<number> {
    return this.#p.reconcile.reap();
  }

  /** Cancel from any cancellable state; releases the hold and any reservation at once. */
  cancel(id: string, actor: string): Promise<WorkRequest | null> {
    return this.#p.reconcile.cancel(id, actor);
  }

  // ---- worker-held units (worker-reservations.ts) ------------------------------------

  /** Units workers hold themselves (/internal/reserve). Available once started. */
  get units(): WorkerReservations {
    if (!this.#s.units) throw new AllotError('INTERNAL_ERROR', 'The scheduler has not started');
    return this.#s.units;
  }

  // ---- resources (bucket-admin.ts) ---------------------------------------------

  /**
   * Apply a resource's new pools (after Registry.setPools). Pools that keep
   * their name keep their level; units running requests took from a pool
   * that no longer exists come back by refill only.
   */
  reconfigurePools(name: string): Promise<void> {
    return this.#p.admin.reconfigurePools(name);
  }

  /**
   * An operator sets a resource's bucket level (default: full), e.g. to
   * clear the debt a worker's bad usage report left. Audited with the level before.
   */
  resetBucket(name: string, level: number | undefined, actor: string): Promise<void> {
    return this.#p.admin.resetBucket(name, level, actor);
  }

  /** Apply a resource's new capacity, refill rate or pools (after the Registry changed it); `data` goes to the audit row. */
  reconfigureResource(name: string, data: Record<string, unknown>): Promise<void> {
    return this.#p.admin.reconfigureResource(name, data);
  }

  // ---- progress (progress.ts) --------------------------------------------------

  /**
   * A worker's progress report, fenced by the lease token it was issued for.
   * @param stage the pipeline stage the report's token was issued for
   */
  progress(id: string, token: number, percent: number, message: string | undefined, stage?: number): Promise<boolean> {
    return this.#p.progress.report(id, token, percent, message, stage);
  }

  // ---- deferred work (deferred.ts) -----------------------------------------------

  /** Whether deferred work may run now, why, and when the next off-peak window opens. */
  deferredStatus(): { allowed: boolean; reason: DeferredReason; nextWindowAt: number | null } {
    return this.#p.deferred.status();
  }

  // ---- views (views.ts) ----------------------------------------------------------

  get queueDepth(): number {
    return this.#p.views.queueDepth;
  }

  get runningCount(): number {
    return this.#p.views.runningCount;
  }

  position(id: string): number | undefined {
    return this.#p.views.position(id);
  }

  /** The live priority of a request: parts as now, with wait and fairness current. */
  liveScore(r: WorkRequest): Score & { level: string } {
    return this.#p.views.liveScore(r);
  }

  /** Queued requests per level, and the oldest wait per level (ms). */
  queueStats(): Record<string, { depth: number; oldestWaitMs: number }> {
    return this.#p.views.queueStats();
  }

  bucketLevels(): Map<string, { level: number; capacity: number }> {
    return this.#p.views.bucketLevels();
  }

  /** Pool levels of a resource, for views. */
  poolLevels(resource: string): PoolLevel[] {
    return this.#p.views.poolLevels(resource);
  }

  runningFor(clientId: string): number {
    return this.#p.views.runningFor(clientId);
  }

  runningOnWorker(name: string): number {
    return this.#p.views.runningOnWorker(name);
  }

  waitingRetries(): number {
    return this.#p.views.waitingRetries();
  }

  /** The most of `resource` one queued request needs (0 when none waits for it). */
  largestQueuedNeed(resource: string): number {
    return this.#p.views.largestQueuedNeed(resource);
  }

  /**
   * How long a new request needing `amount` of `resource` is expected to
   * wait for it: the queued backlog on that resource plus its own need,
   * less what the bucket holds now, at the refill rate. 0 when it would fit.
   */
  expectedWaitMs(resource: string, amount: number): number {
    return this.#p.views.expectedWaitMs(resource, amount);
  }
}
