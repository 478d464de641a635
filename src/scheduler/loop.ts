/**
 * The loop: start and stop, pause and resume, and the scheduling pass.
 * `kick` asks for a pass (coalesced); a pass starts holders first, then
 * picks from the run queue, best first, every request that may start now,
 * and launches it without waiting for its claim or its worker. When what
 * is left is short of buckets, which refill with time alone, a timer wakes
 * the loop when the first could fit. On start the queue is rebuilt from the
 * store; the reaper runs on an interval.
 */
import { WorkerReservations } from './worker-reservations.ts';
import type { Parts } from './parts.ts';
import { toErr, type SchedulerState } from './state.ts';

export class Loop {
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
  /**
   * Whether this instance schedules. Alone (SQLite) it always does; in the
   * scale-out mode only the elected leader does, and the others keep their
   * queue as a replica (for positions and views) without picking from it.
   */
  #leading = true;
  /** The last rebuild from the store (start or taking the lead): a new one waits for it. */
  #resync: Promise<void> = Promise.resolve();

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /**
   * Rebuild state from the store and begin. Idempotent: a second call returns the same promise.
   * @param leading false: keep the queue as a replica and schedule nothing until `lead(true)`.
   */
  start(leading = true): Promise<void> {
    this.#started ??= this.#start(leading);
    return this.#started;
  }

  async #start(leading: boolean): Promise<void> {
    const { store, clock } = this.#s.d;
    this.#s.units = new WorkerReservations({ buckets: this.#s.buckets, store, clock, events: this.#s.d.events, resources: this.#s.d.registry.resources });
    this.#leading = leading;
    if (leading) await this.#takeLead();
    else await this.resync();
    // On every instance: the reaper also keeps this instance's view of shared buckets fresh and ends its own
    // workers' reservations; taking leases back is the leader's part of it (Reconcile.reap).
    this.#reaper = setInterval(() => void this.#p.reconcile.reap().catch((err) => this.#s.d.events.emit('worker:error', 'reaper', toErr(err))), this.#s.o.reaperIntervalMs);
    this.#reaper.unref();
  }

  /**
   * The work a new scheduler takes over: lost leases back, then the queue from the store, then timers.
   * @param tolerant taking the lead while running (elected): the retry timer is set first, and a
   * store that fails now (it may be coming back from an outage) is logged, not thrown; the reaper's next round and
   * the next resync do the rest. At start (not tolerant) a failure stops the start.
   */
  async #takeLead(tolerant = false): Promise<void> {
    const { store, clock } = this.#s.d;
    const timers = (): void => this.#s.retries.start();
    if (tolerant) timers();
    try {
      // Without multi-process storage, any lease not ours belongs to a dead earlier run of this process:
      // it is taken back at once, and the attempt it was on does not count (the worker dedupes by request id).
      // With it, leases of instances that stopped saying they are alive are taken back at once as well.
      const reaped = await store.reapExpiredLeases(clock.now(), { self: this.#s.o.instanceId, takeForeign: !store.capabilities.multiProcess, takeOrphaned: store.capabilities.multiProcess });
      for (const r of reaped) if (r.state === 'FAILED') this.#s.d.events.emit('request:failed', r);
      await this.resync();
    } catch (err) {
      if (!tolerant) throw err;
      this.#s.d.events.emit('worker:error', 'scheduler', toErr(err));
    }
    if (!this.#leading || this.#stopping) return;
    if (!tolerant) timers();
    this.kick();
  }

  /**
   * Queue every PENDING request of the store not queued yet, and forget queued
   * ones that are no longer PENDING (another instance started or cancelled
   * them): how a replica catches up after missed messages, and how a new
   * leader rebuilds its queue.
   */
  resync(): Promise<void> {
    this.#resync = this.#resync.catch(() => undefined).then(async () => {
      const now = this.#s.d.clock.now();
      const pending = new Set<string>();
      for (const r of await this.#s.d.store.loadQueued()) {
        if (r.state === 'PENDING') {
          pending.add(r.id);
          if (!this.#s.running.has(r.id)) this.#p.intake.push(r);
        } else if (r.state === 'WAITING_RETRY') this.#s.retries.add(r.id, r.runAt ?? now);
      }
      for (const id of this.#s.queued.keys()) if (!pending.has(id)) this.#p.intake.unqueue(id);
    });
    return this.#resync;
  }

  /**
   * Become the scheduler (elected) or stop scheduling (deposed, or another
   * instance was elected). Work already dispatched runs to its end either way:
   * its lease and fencing token are still valid, and its results are recorded.
   */
  async lead(on: boolean): Promise<void> {
    if (on === this.#leading) return;
    this.#leading = on;
    if (!this.#started) return;
    await this.#started;
    if (on) {
      await this.#takeLead(true);
      return;
    }
    clearTimeout(this.#wakeTimer);
    this.#s.retries.stop();
  }

  get leading(): boolean {
    return this.#leading;
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

  /**
   * Resolves once no pass is pending or running and nothing launched is in
   * flight (claimed, at a worker, or being reconciled). A test with a fake
   * clock steps the world with it instead of sleeping for a guess that a
   * slower store outlasts.
   */
  async settled(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (this.#passScheduled || this.#passRunning) continue;
      if (this.#s.inflight.size === 0) return;
      await Promise.allSettled(this.#s.inflight);
    }
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

  /** Ask for a scheduling pass soon (coalesced while one is pending or running). */
  kick(): void {
    if (this.#passRunning) {
      this.#passAgain = true;
      return;
    }
    if (this.#passScheduled || this.#stopping || !this.#started || !this.#leading) return;
    this.#passScheduled = true;
    // A microtask, not setImmediate: the pass then runs before this turn's group
    // commit, so a claim shares the commit of the submission that caused it
    // instead of waiting a whole event-loop turn for the next one.
    queueMicrotask(() => {
      this.#passScheduled = false;
      void this.#pass();
    });
  }

  async #pass(): Promise<void> {
    if (this.#passRunning || this.#stopping || this.#paused || !this.#leading) return;
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
          if (this.#stopping || this.#paused || !this.#leading) break;
        }
      } while (this.#passAgain && !this.#stopping && !this.#paused && this.#leading);
    } finally {
      this.#passRunning = false;
      // What this pass started is claimed in one write, in the order it was picked.
      this.#p.dispatch.flushClaims();
    }
    this.#s.d.events.emit('scheduler:pass', performance.now() - t0, started);
    // Buckets refill with time alone: wake up when the first blocked request could fit.
    if (Number.isFinite(minWait) && this.#s.queue.size > 0) this.#wakeIn(Math.max(1, minWait));
  }

  #wakeIn(ms: number): void {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => this.kick(), ms);
    this.#wakeTimer.unref();
  }
}
