/**
 * The scheduling loop: take the best runnable request, reserve its
 * resources, claim it under a lease, dispatch it, reconcile what it used.
 *
 * Invariants:
 * - A request is in exactly one of: the run queue (PENDING), the retry timer
 *   set (WAITING_RETRY), `#running` (PREPARING/RUNNING under our lease), or
 *   none (terminal, or owned by nobody until the reaper takes it back).
 * - Whoever removes a request from `#running` ends its reservation: the
 *   dispatcher when the worker answers, `cancel`, or the reaper. A result
 *   that arrives after that is stale: it is neither recorded nor charged.
 * - Ledger changes and the store write they belong to happen in one
 *   synchronous stretch (see ledger.ts), so buckets in memory and on disk agree.
 *
 * One scheduler runs per store (SPEC: one elected scheduler). It learns of
 * new work through `enqueued()`; on start it rebuilds its queue from the store.
 */
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { Score } from '../core/priority.ts';
import type { DeferredPolicy, DeferredReason } from '../core/offpeak.ts';
import type { Events } from '../events.ts';
import type { WorkRequest } from '../model.ts';
import type { Registry } from '../service/registry.ts';
import type { Store } from '../store/store.ts';
import type { Transport } from '../workers/transport.ts';
import type { References } from '../workers/references.ts';
import type { PoolLevel } from './buckets.ts';
import { Parts } from './parts.ts';
import type { ProgressTokens } from './progress-token.ts';
import { SchedulerState, toErr } from './state.ts';
import { WorkerReservations } from './worker-reservations.ts';

export interface SchedulerOptions {
  readonly instanceId: string;
  /** @default 10 minutes */
  readonly starvationMs: number;
  /**
   * A request that has waited this long and whose resources are short gets
   * them held: nothing else takes from those buckets until it has started,
   * so a large request is not starved by a stream of small ones.
   * @default 30 seconds
   */
  readonly holdAfterMs: number;
  /** When deferred work may run: off-peak windows, or a while of low utilization. */
  readonly deferred: DeferredPolicy;
  /** @default 1 minute */
  readonly fairnessHalfLifeMs: number;
  /** Lease = template timeout + this. @default 5 seconds */
  readonly leaseGraceMs: number;
  /** @default 1 second */
  readonly reaperIntervalMs: number;
  /** Base URL workers post progress to, e.g. http://127.0.0.1:8787. */
  readonly publicUrl: () => string;
}

export interface SchedulerDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly events: Events;
  readonly clock: Clock;
  readonly transports: Readonly<Record<'http' | 'subprocess' | 'v2', Transport>>;
  readonly progressTokens: ProgressTokens;
  /** Where pipeline stage outputs are kept by reference. */
  readonly references: References;
  readonly random?: () => number;
}

export class Scheduler {
  readonly #s: SchedulerState;
  readonly #p: Parts;
  #started: Promise<void> | undefined;
  #stopping = false;
  #paused = false;
  #passScheduled = false;
  #passRunning = false;
  #passAgain = false;
  #reaper: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;

  constructor(deps: SchedulerDeps, opts: SchedulerOptions) {
    this.#s = new SchedulerState(deps, opts, () => void this.promoteDue().catch((err) => this.#s.d.events.emit('worker:error', 'retry-timer', toErr(err))));
    this.#p = new Parts(this.#s, this);
  }

  /** Rebuild state from the store and begin. Idempotent: a second call returns the same promise. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const { store, clock } = this.#s.d;
    const now = clock.now();
    this.#s.buckets.load(this.#s.d.registry.resources, await store.loadBuckets(), now);
    this.#s.units = new WorkerReservations({ buckets: this.#s.buckets, store, clock, events: this.#s.d.events, resources: this.#s.d.registry.resources });
    // Without multi-process storage, any lease not ours belongs to a dead earlier run of this process:
    // it is taken back at once, and the attempt it was on does not count (the worker dedupes by request id).
    const reaped = await store.reapExpiredLeases(now, { self: this.#s.o.instanceId, takeForeign: !store.capabilities.multiProcess });
    for (const r of reaped) if (r.state === 'FAILED') this.#s.d.events.emit('request:failed', r);
    for (const r of await store.loadQueued()) {
      if (r.state === 'PENDING') this.#p.intake.push(r);
      else if (r.state === 'WAITING_RETRY') this.#s.retries.add(r.id, r.runAt ?? now);
    }
    this.#reaper = setInterval(() => void this.reap().catch((err) => this.#s.d.events.emit('worker:error', 'reaper', toErr(err))), this.#s.o.reaperIntervalMs);
    this.#reaper.unref();
    this.#s.retries.start();
    this.kick();
  }

  /** Stop dispatching, wait for running work to finish (at most `drainMs`), then abort the rest. */
  async stop(drainMs = 10_000): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#reaper);
    this.#s.retries.stop();
    clearTimeout(this.#wakeTimer);
    void this.#p.dispatch.flushBatches();
    if (this.#s.inflight.size) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(this.#s.inflight), new Promise((r) => (t = setTimeout(r, drainMs)))]);
      clearTimeout(t);
    }
    for (const r of this.#s.running.values()) r.abort.abort({ code: 'SHUTDOWN' });
    await Promise.allSettled(this.#s.inflight);
  }

  /** Admin: stop starting new work (accepting continues). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.kick();
  }

  get paused(): boolean {
    return this.#paused;
  }

  // ---- intake ---------------------------------------------------------------

  /** A request was durably accepted: queue it. */
  enqueued(r: WorkRequest): void {
    this.#p.intake.enqueued(r);
  }

  /** Ask for a scheduling pass soon (coalesced while one is pending or running). */
  kick(): void {
    if (this.#passRunning) {
      this.#passAgain = true;
      return;
    }
    if (this.#passScheduled || this.#stopping || !this.#started) return;
    this.#passScheduled = true;
    // A microtask, not setImmediate: the pass then runs before this turn's group
    // commit, so a claim shares the commit of the submission that caused it
    // instead of waiting a whole event-loop turn for the next one.
    queueMicrotask(() => {
      this.#passScheduled = false;
      void this.#pass();
    });
  }

  // ---- the pass ---------------------------------------------------------------

  async #pass(): Promise<void> {
    if (this.#passRunning || this.#stopping || this.#paused || !this.#s.buckets.loaded) return;
    this.#passRunning = true;
    const t0 = performance.now();
    let started = 0;
    let minWait = Infinity;
    try {
      // Deferred work is rare: only look at the clock and the buckets when some is queued.
      const allowDeferred = this.#s.queue.size > this.#s.queue.nonDeferredSize && this.#p.deferred.allowedNow();
      do {
        this.#passAgain = false;
        this.#p.holds.newPass();
        // Holders first: the run queue may rank a refused request of the same group above a
        // holder and skip the whole group, so a holder that fits is started here directly.
        started += this.#p.holds.launchHolders();
        minWait = Math.min(minWait, this.#p.holds.waitMs);
        for (;;) {
          const now = this.#s.d.clock.now();
          const active = this.#s.activeClients();
          const item = this.#s.queue.pick({
            now,
            allowDeferred,
            fairness: (c, g) => this.#s.fairness.points(c, this.#s.groupResource.get(g) ?? '', active, now),
            eligible: (it) => {
              const e = this.#p.gate.eligible(it, now);
              if (e.waitMs !== undefined) minWait = Math.min(minWait, e.waitMs);
              return e.result;
            },
          });
          if (!item) break;
          // Not awaited: the pass goes on picking while claims commit and dispatches run.
          this.#p.dispatch.launch(item.id, now);
          started++;
          if (this.#stopping || this.#paused) break;
        }
      } while (this.#passAgain && !this.#stopping && !this.#paused);
    } finally {
      this.#passRunning = false;
    }
    this.#s.d.events.emit('scheduler:pass', performance.now() - t0, started);
    // Buckets refill with time alone: wake up when the first blocked request could fit.
    if (Number.isFinite(minWait) && this.#s.queue.size > 0) this.#wakeIn(Math.max(1, minWait));
  }

  /** Resources held for long-waiting requests: resource → request id. */
  holds(): Record<string, string> {
    return this.#p.holds.view();
  }

  #wakeIn(ms: number): void {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => this.kick(), ms);
    this.#wakeTimer.unref();
  }

  /** Move WAITING_RETRY requests whose time has come back to PENDING. Exposed for tests. */
  promoteDue(): Promise<number> {
    return this.#p.reconcile.promoteDue();
  }

  /** Units workers hold themselves (/internal/reserve). Available once started. */
  get units(): WorkerReservations {
    if (!this.#s.units) throw new AllotError('INTERNAL_ERROR', 'The scheduler has not started');
    return this.#s.units;
  }

  /** Take back requests whose lease expired, and units whose reservation expired. Exposed for tests. */
  reap(): Promise<number> {
    return this.#p.reconcile.reap();
  }

  /** Cancel from any cancellable state; releases the hold and any reservation at once. */
  cancel(id: string, actor: string): Promise<WorkRequest | null> {
    return this.#p.reconcile.cancel(id, actor);
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
