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

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /** Rebuild state from the store and begin. Idempotent: a second call returns the same promise. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const { store, clock } = this.#s.d;
    const now = clock.now();
    this.#s.units = new WorkerReservations({ buckets: this.#s.buckets, store, clock, events: this.#s.d.events, resources: this.#s.d.registry.resources });
    // Without multi-process storage, any lease not ours belongs to a dead earlier run of this process:
    // it is taken back at once, and the attempt it was on does not count (the worker dedupes by request id).
    const reaped = await store.reapExpiredLeases(now, { self: this.#s.o.instanceId, takeForeign: !store.capabilities.multiProcess });
    for (const r of reaped) if (r.state === 'FAILED') this.#s.d.events.emit('request:failed', r);
    for (const r of await store.loadQueued()) {
      if (r.state === 'PENDING') this.#p.intake.push(r);
      else if (r.state === 'WAITING_RETRY') this.#s.retries.add(r.id, r.runAt ?? now);
    }
    this.#reaper = setInterval(() => void this.#p.reconcile.reap().catch((err) => this.#s.d.events.emit('worker:error', 'reaper', toErr(err))), this.#s.o.reaperIntervalMs);
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

  async #pass(): Promise<void> {
    if (this.#passRunning || this.#stopping || this.#paused) return;
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

  #wakeIn(ms: number): void {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => this.kick(), ms);
    this.#wakeTimer.unref();
  }
}
