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
import type { Usage } from '../core/cost.ts';
import { usageCost } from '../core/cost.ts';
import { AllotError } from '../core/errors.ts';
import type { Score } from '../core/priority.ts';
import { backoffDelay, shouldRetry } from '../core/retry.ts';
import type { DeferredPolicy, DeferredReason } from '../core/offpeak.ts';
import type { Events } from '../events.ts';
import { RAW_INPUT, type Overuse, type WorkRequest } from '../model.ts';
import type { Registry } from '../service/registry.ts';
import type { BucketWrites, Settlement, Store } from '../store/store.ts';
import { RawJson, type Job, type Transport, type WorkerOutcome } from '../workers/transport.ts';
import type { PoolLevel } from './buckets.ts';
import { Parts } from './parts.ts';
import { SchedulerState, dec, inc, toErr, type Queued, type Running } from './state.ts';
import { Batcher } from './batcher.ts';
import { WorkerReservations } from './worker-reservations.ts';
import { LARGE_PAYLOAD_BYTES, largeWork } from '../service/turns.ts';
import type { ProgressTokens } from './progress-token.ts';
import { runPipeline } from './pipeline.ts';
import type { References } from '../workers/references.ts';

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

const EMPTY: BucketWrites = new Map();

interface BatchItem {
  readonly entry: Running;
  readonly req: WorkRequest;
  readonly deadlineAt: number;
  readonly readyAt: number;
}

export class Scheduler {
  readonly #s: SchedulerState;
  readonly #p: Parts;
  readonly #batcher = new Batcher<BatchItem>((_key, items) => this.#dispatchBatch(items));
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
    void this.#batcher.flushAll();
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
          this.launch(item.id, now);
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

  /**
   * Start a picked request. The synchronous part takes its resources, its
   * client's and worker's slots, so the rest of the pass sees them taken;
   * the claim, its commit and the dispatch continue without holding up the pass.
   */
  /** @internal Until dispatch is a part of its own. */
  launch(id: string, now: number): void {
    const { registry, events } = this.#s.d;
    const q = this.#p.intake.unqueue(id);
    if (!q) return;
    this.#p.holds.noteAdmitted(id, q.needs, now);
    const worker = registry.worker(q.worker);
    const { writes, taken } = this.#s.buckets.reserve(q.needs, now, this.#p.gate.drawContext(q.clientId));
    const entry: Running = {
      id, clientId: q.clientId, worker: worker?.name ?? '', token: -1, reserved: q.needs, taken, abort: new AbortController(), startedAt: now, overusers: new Set(),
    };
    this.#s.running.set(id, entry);
    inc(this.#s.runningByClient, q.clientId);
    if (worker) this.#s.slots.take(entry, worker.name);
    const needs = Object.entries(q.needs);
    if (needs.length === 0) this.#s.fairness.record(q.clientId, '', 1, now);
    for (const [res, amount] of needs) this.#s.fairness.record(q.clientId, res, amount, now);
    const p = this.#claimAndRun(entry, q, writes, now).catch((err) => {
      events.emit('worker:error', entry.worker, toErr(err));
    });
    this.#s.inflight.add(p);
    void p.finally(() => this.#s.inflight.delete(p));
  }

  async #claimAndRun(entry: Running, q: Queued, writes: BucketWrites, now: number): Promise<void> {
    const { store, registry, events } = this.#s.d;
    const worker = registry.worker(q.worker);
    const deadlineAt = now + q.timeoutMs;
    const claimed = await store.claim(entry.id, {
      owner: this.#s.o.instanceId, now, leaseMs: q.timeoutMs + this.#s.o.leaseGraceMs, reserved: { ...q.needs }, buckets: writes,
      ...(worker ? { start: { deadlineAt, leaseExpiresAt: deadlineAt + this.#s.o.leaseGraceMs } } : {}),
    });
    if (!claimed) {
      // Cancelled between pick and claim: nothing was written for it.
      if (this.#s.running.get(entry.id) === entry) {
        this.#release(entry);
        this.#s.buckets.giveBack(entry.taken, this.#s.d.clock.now());
      }
      return;
    }
    entry.token = claimed.leaseToken;
    events.emit('request:claimed', claimed);
    if (!worker) {
      await this.#finish(entry, claimed, { ok: false, error: { code: 'WORKER_UNAVAILABLE', message: `Cannot dispatch: worker "${q.worker}" is not registered`, retryable: false }, usage: null });
      return;
    }
    // The reservation must be on disk before the worker can spend it: after a crash the
    // buckets still account for it, and the reaper takes the request back.
    await store.durable();
    // A large input goes to the worker as the bytes the store holds (decompressed off the event loop), not parsed and
    // serialized again; and sending one takes a turn of its own, so that several do not hold up every other client.
    const raw = claimed[RAW_INPUT];
    const rawInput = raw && raw.approxBytes >= LARGE_PAYLOAD_BYTES ? new RawJson(await raw.bytes(), () => claimed.input) : undefined;
    if (rawInput) await largeWork.next();
    if (this.#s.running.get(entry.id) !== entry) return; // Cancelled while the commit was pending.
    const batch = claimed.policy.batch;
    if (batch && this.#s.d.transports[worker.transport].dispatchBatch) {
      const value = (claimed.input as Record<string, unknown> | null)?.[batch.key];
      const key = `${worker.name}|${claimed.template}|${claimed.model ?? ''}|${JSON.stringify(value ?? null)}`;
      await this.#batcher.add(key, { entry, req: claimed, deadlineAt, readyAt: q.readyAt }, batch.windowMs, batch.maxSize);
      return;
    }
    await this.#dispatch(entry, claimed, deadlineAt, q.readyAt, rawInput);
  }

  /** @param rawInput the input as stored bytes (a large one), spliced into the job instead of serialized again */
  async #dispatch(entry: Running, req: WorkRequest, deadlineAt: number, readyAt: number, rawInput?: RawJson): Promise<void> {
    const { registry, clock } = this.#s.d;
    const worker = registry.worker(req.policy.worker);
    if (!worker) return;
    const job = this.#jobFor(entry, req, deadlineAt, undefined, rawInput);
    const timer = setTimeout(() => entry.abort.abort({ code: 'REQUEST_TIMEOUT' }), Math.max(0, deadlineAt - clock.now()));
    // What Allot added between "runnable" and "sent to the worker": queueing, reservation, two durable writes.
    this.#s.d.events.emit('request:started', req, performance.now() - readyAt);
    let outcome: WorkerOutcome;
    try {
      outcome = req.policy.stages
        ? await this.#runPipeline(entry, req, deadlineAt)
        : await this.#s.d.transports[worker.transport].dispatch(worker, job, {
          signal: entry.abort.signal,
          onProgress: (pct, msg) => void this.#p.progress.report(req.id, entry.token, pct, msg),
          onRequirements: (declared) => this.#noteRequirements(worker.name, declared),
        });
    } finally {
      clearTimeout(timer);
    }
    await this.#finish(entry, req, outcome);
  }

  /** A pipeline's stages, one after another, within this attempt's lease. */
  #runPipeline(entry: Running, req: WorkRequest, deadlineAt: number): Promise<WorkerOutcome> {
    const reg = this.#s.d.registry;
    const model = req.model ? reg.modelResource(req.model) : undefined;
    const stages = req.policy.stages ?? [];
    return runPipeline(
      {
        store: this.#s.d.store, clock: this.#s.d.clock, references: this.#s.d.references, transports: this.#s.d.transports, worker: (name) => reg.worker(name), random: this.#s.d.random,
        onRequirements: (worker, declared) => this.#noteRequirements(worker, declared),
        onStageOutcome: (worker, o) => {
          if (req.model && (o.usage?.tokens.output ?? 0) > req.maxTokens) entry.overusers.add(worker);
          if (o.ok) this.#s.d.events.emit('worker:answered', worker);
          else this.#s.d.events.emit('worker:error', worker, o.error);
        },
      },
      {
        req, stages, token: entry.token, signal: entry.abort.signal, deadlineAt,
        job: (k, input, attempt, stageDeadline) => ({
          ...this.#jobFor(entry, req, stageDeadline, k), stage: k, attempt, input,
          parameters: { ...req.parameters, ...stages[k]?.parameters, ...(req.model ? { model: req.model, max_tokens: req.maxTokens } : {}) },
        }),
        onStage: async (k, worker) => {
          entry.stage = { k, n: stages.length };
          if (this.#s.running.get(entry.id) !== entry) return;
          await this.#s.slots.move(entry, worker, reg.worker(worker)?.maxConcurrency ?? Infinity, entry.abort.signal);
        },
        onProgress: (pct, msg) => void this.#p.progress.set(req.id, entry.token, pct, msg),
        costOf: (usage) => (usage ? usageCost(usage, model?.price, reg.priceOf).nano : 0),
      },
    );
  }

  #noteRequirements(worker: string, declared: Readonly<Record<string, number>>): void {
    void this.#s.d.registry.noteRequirements(worker, declared).catch((err: unknown) => this.#s.d.events.emit('worker:error', worker, toErr(err)));
  }

  /** Several requests of one batch key as one call; each is then reconciled on its own. */
  async #dispatchBatch(items: BatchItem[]): Promise<void> {
    const live = items.filter((x) => this.#s.running.get(x.entry.id) === x.entry);
    const first = live[0];
    if (!first) return;
    const worker = this.#s.d.registry.worker(first.req.policy.worker);
    const transport = worker && this.#s.d.transports[worker.transport];
    if (!worker || !transport?.dispatchBatch) {
      for (const x of live) await this.#dispatch(x.entry, x.req, x.deadlineAt, x.readyAt);
      return;
    }
    const abort = new AbortController();
    const deadline = Math.min(...live.map((x) => x.deadlineAt));
    const timer = setTimeout(() => abort.abort({ code: 'REQUEST_TIMEOUT' }), Math.max(0, deadline - this.#s.d.clock.now()));
    for (const x of live) this.#s.d.events.emit('request:started', x.req, performance.now() - x.readyAt);
    let outcomes: WorkerOutcome[];
    try {
      outcomes = await transport.dispatchBatch(worker, live.map((x) => this.#jobFor(x.entry, x.req, x.deadlineAt)), { signal: abort.signal, onProgress: () => {} });
    } finally {
      clearTimeout(timer);
    }
    const now = this.#s.d.clock.now();
    for (const [i, x] of live.entries()) {
      const outcome = outcomes[i] as WorkerOutcome;
      await this.#finish(x.entry, x.req, outcome);
      if (i > 0 && outcome.ok) {
        await this.#s.d.store.recordSaving({
          at: now, requestId: x.req.id, clientId: x.req.clientId, template: x.req.template, strategy: 'batching', usdNano: 0, calls: 1, bytes: 0,
          method: `sent in one call with ${live.length - 1} other requests`,
        });
      }
    }
  }

  /** @param input what to send as the input, if not the request's own (a large one as stored bytes) */
  #jobFor(entry: Running, req: WorkRequest, deadlineAt: number, stage?: number, input?: unknown): Job {
    return {
      request_id: req.id,
      template: req.template,
      stage: 0,
      attempt: req.attempts,
      input: input === undefined ? req.input : input,
      parameters: { ...req.parameters, ...(req.model ? { model: req.model, max_tokens: req.maxTokens } : {}) },
      deadline_ms: deadlineAt,
      timeout_ms: Math.max(0, Math.round(deadlineAt - this.#s.d.clock.now())),
      progress: { url: `${this.#s.o.publicUrl()}/internal/progress/${encodeURIComponent(req.id)}`, token: this.#s.d.progressTokens.issue(req.id, entry.token, stage) },
    };
  }

  /** Reconcile a worker's answer: settle buckets and budget, then complete, retry or fail. */
  async #finish(entry: Running, req: WorkRequest, outcome: WorkerOutcome): Promise<void> {
    const { store, events, clock } = this.#s.d;
    const mine = this.#s.running.get(entry.id);
    if (mine !== entry) {
      events.emit('request:stale-result', entry.id, entry.token);
      return;
    }
    this.#release(entry);
    const now = clock.now();
    const settlement = this.#settlement(req, entry, outcome.usage, now);
    let next: WorkRequest | null;
    if (outcome.ok) {
      next = await store.complete(entry.id, entry.token, { now, output: outcome.output, settlement });
      if (next) {
        events.emit('request:completed', next, now - entry.startedAt);
        await this.#s.sharing.completed(next, now);
      }
    } else {
      // A worker that gives up at the deadline it was sent reports its own code; the stable one is Allot's.
      if (outcome.error.code === 'DEADLINE_EXCEEDED') outcome = { ...outcome, error: { ...outcome.error, code: 'REQUEST_TIMEOUT', retryable: true } };
      const policy = { ...req.policy.retry, maxAttempts: req.maxAttempts };
      if (shouldRetry(policy, req.attempts, outcome.error.retryable)) {
        const runAt = now + backoffDelay(policy, req.attempts, this.#s.d.random);
        next = await store.retryLater(entry.id, entry.token, { now, runAt, error: outcome.error, settlement });
        if (next) {
          this.#s.retries.add(entry.id, runAt);
          events.emit('request:retrying', next, outcome.error);
        }
      } else {
        next = await store.fail(entry.id, entry.token, { now, error: outcome.error, settlement });
        if (next) {
          events.emit('request:failed', next);
          await this.#handOver(next.id);
        }
      }
      events.emit('worker:error', entry.worker, outcome.error);
    }
    if (!next) events.emit('request:stale-result', entry.id, entry.token);
    this.kick();
  }

  /**
   * What an attempt used and cost. Usage a worker did not report is unknown:
   * nothing is charged to the budget for it, and its reservation is treated
   * as consumed by the buckets, which is the safe side for provider limits.
   */
  #settlement(req: WorkRequest, entry: Running, usage: Usage | null, now: number): Settlement {
    if (!usage) return { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, buckets: this.#s.buckets.settle(entry.taken, entry.reserved, now), returned: {} };
    const reg = this.#s.d.registry;
    const model = req.model ? reg.modelResource(req.model) : undefined;
    const used: Record<string, number> = {};
    for (const name of Object.keys(entry.reserved)) used[name] = 0;
    for (const [name, amount] of Object.entries(usage.resources)) used[name] = (used[name] ?? 0) + amount;
    if (model) used[model.name] = (used[model.name] ?? 0) + usage.tokens.input + usage.tokens.output;
    const { nano } = usageCost(usage, model?.price, reg.priceOf);
    const returned: Record<string, number> = {};
    for (const [name, u] of Object.entries(used)) if (reg.resources.has(name)) returned[name] = (entry.reserved[name] ?? 0) - u;
    const overuse = overuseOf(req, entry, usage, used, now);
    if (overuse) this.#s.d.events.emit('request:overuse', req.id, overuse);
    return { usage, costNano: nano, buckets: this.#s.buckets.settle(entry.taken, used, now), returned, ...(overuse ? { overuse } : {}) };
  }

  #release(entry: Running): void {
    this.#s.running.delete(entry.id);
    dec(this.#s.runningByClient, entry.clientId);
    this.#s.slots.free(entry); // `worker` stays set: its outcome is reported against it.
  }

  // ---- retries, reaping, progress, cancel --------------------------------------

  /** Move WAITING_RETRY requests whose time has come back to PENDING. Exposed for tests. */
  async promoteDue(): Promise<number> {
    const now = this.#s.d.clock.now();
    let n = 0;
    for (const id of this.#s.retries.takeDue(now)) {
      const r = await this.#s.d.store.promote(id, now);
      if (r) {
        this.#p.intake.push(r);
        n++;
      }
    }
    this.#s.retries.arm();
    if (n) this.kick();
    return n;
  }

  /** Units workers hold themselves (/internal/reserve). Available once started. */
  get units(): WorkerReservations {
    if (!this.#s.units) throw new AllotError('INTERNAL_ERROR', 'The scheduler has not started');
    return this.#s.units;
  }

  /** Take back requests whose lease expired, and units whose reservation expired. Exposed for tests. */
  async reap(): Promise<number> {
    const now = this.#s.d.clock.now();
    if (this.#s.units?.sweep()) this.kick();
    this.#p.deferred.observe(now);
    this.#p.deferred.runOverdue(now);
    if (this.#s.queue.size > this.#s.queue.nonDeferredSize) this.kick(); // Deferred work may have become allowed.
    const reaped = await this.#s.d.store.reapExpiredLeases(now, { self: this.#s.o.instanceId });
    for (const r of reaped) {
      const mine = this.#s.running.get(r.id);
      if (mine) {
        this.#release(mine);
        mine.abort.abort({ code: 'REQUEST_TIMEOUT' });
      }
      if (r.state === 'WAITING_RETRY') this.#s.retries.add(r.id, r.runAt ?? now);
      else if (r.state === 'FAILED') {
        this.#s.d.events.emit('request:failed', r);
        await this.#handOver(r.id);
      }
    }
    if (reaped.length) this.kick();
    return reaped.length;
  }

  /** A request ended without a result: if identical ones waited for it, they run on their own (the first leads). */
  async #handOver(id: string): Promise<void> {
    for (const r of await this.#s.sharing.endedWithout(id)) this.#p.intake.push(r);
    this.kick();
  }

  /** Cancel from any cancellable state; releases the hold and any reservation at once. */
  async cancel(id: string, actor: string): Promise<WorkRequest | null> {
    const now = this.#s.d.clock.now();
    const run = this.#s.running.get(id);
    let buckets = EMPTY;
    if (run) {
      this.#release(run);
      buckets = this.#s.buckets.giveBack(run.taken, now);
    }
    this.#p.intake.unqueue(id);
    this.#s.retries.delete(id);
    const r = await this.#s.d.store.cancel(id, { now, actor, buckets, returned: run ? { ...run.reserved } : {} });
    if (run) run.abort.abort({ code: 'CANCELLED' });
    if (r) {
      this.#s.d.events.emit('request:cancelled', r);
      await this.#handOver(id);
    }
    this.kick();
    return r;
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

/**
 * Usage beyond what the job allowed: more output tokens than `max_tokens`
 * (per model call), or more of a resource than was reserved for it. Charged
 * as reported all the same; flagged on the request, and alerted on.
 */
function overuseOf(req: WorkRequest, entry: Running, usage: Usage, used: Readonly<Record<string, number>>, now: number): Overuse | null {
  const resources: Record<string, { reserved: number; used: number }> = {};
  for (const [name, u] of Object.entries(used)) {
    const reserved = entry.reserved[name] ?? 0;
    if (u > reserved) resources[name] = { reserved, used: u };
  }
  const allowed = req.model ? req.maxTokens * (req.policy.stages?.length ?? 1) : Infinity;
  const outputTokens = usage.tokens.output > allowed ? { allowed, reported: usage.tokens.output } : undefined;
  if (!outputTokens && Object.keys(resources).length === 0) return null;
  const workers = entry.overusers.size ? [...entry.overusers] : [...new Set(req.policy.stages ? req.policy.stages.map((x) => x.worker) : [entry.worker])];
  return { workers, at: now, ...(outputTokens ? { outputTokens } : {}), resources };
}
