/**
 * Dispatch: start a picked request and carry it to its worker. The
 * synchronous start asks the limiter for its units (a fresh grant per
 * attempt) and takes its slots, so the rest of the pass sees them taken;
 * once the take is granted, the claim under a lease, the commit, and the
 * call to the worker: alone, as a pipeline's stages, or batched with others
 * of the same batch key. Each answer goes to reconcile.
 *
 * Nothing is dispatched without a granted take. A take refused (another
 * instance took the units first) or failed (the limiter cannot be reached)
 * puts the request back in the queue as it was: no attempt used, nothing
 * claimed. A claim refused (cancelled meanwhile) releases the grant.
 */
import { randomUUID } from 'node:crypto';
import { Coalescer } from '../core/coalesce.ts';
import { usageCost } from '../core/cost.ts';
import type { TakeResult } from '../limiter/limiter.ts';
import { RAW_INPUT, type WorkRequest } from '../model.ts';
import type { ClaimOptions } from '../store/store.ts';
import { LARGE_PAYLOAD_BYTES, largeWork } from '../service/turns.ts';
import { RawJson, type Job, type WorkerOutcome } from '../workers/transport.ts';
import { Batcher } from './batcher.ts';
import type { Parts } from './parts.ts';
import { runPipeline } from './pipeline.ts';
import { inc, toErr, type Queued, type Running, type SchedulerState } from './state.ts';

/**
 * How much longer than its lease a grant is held. Past the lease the reaper
 * takes the request back and its units count as used, so an attempt's grant
 * is settled or released before it expires; the margin covers the reaper's
 * interval and a settlement on its way.
 */
export const GRANT_MARGIN_MS = 60_000;

interface BatchItem {
  readonly entry: Running;
  readonly req: WorkRequest;
  readonly deadlineAt: number;
  readonly readyAt: number;
}

export class Dispatch {
  readonly #s: SchedulerState;
  readonly #p: Parts;
  readonly #batcher = new Batcher<BatchItem>((_key, items) => this.#dispatchBatch(items));

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
  }

  /** Send every batch still collecting (at stop). */
  flushBatches(): Promise<void> {
    return this.#batcher.flushAll();
  }

  /**
   * Start a picked request. The synchronous part asks for its resources (a
   * LocalLimiter takes them at the call; a shared limiter's take in flight is
   * counted by Buckets.check) and takes its client's and worker's slots, so
   * the rest of the pass sees them taken; the take's answer, the claim, its
   * commit and the dispatch continue without holding up the pass.
   */
  launch(id: string, now: number): void {
    const { registry, events } = this.#s.d;
    const q = this.#p.intake.unqueue(id);
    if (!q) return;
    // Queued again while it runs (a stale announcement): a second entry would replace the one whose answer is awaited.
    if (this.#s.running.has(id)) return;
    this.#p.holds.noteAdmitted(id, q.needs, now);
    const worker = registry.worker(q.worker);
    const grantId = `${id}:${randomUUID().slice(0, 8)}`;
    const ttlMs = q.timeoutMs + this.#s.o.leaseGraceMs + GRANT_MARGIN_MS;
    const ctx = this.#p.gate.drawContext(q.clientId);
    const tookNow = this.#s.buckets.takeNow(grantId, q.needs, ctx, ttlMs, now);
    const taking = tookNow ? Promise.resolve(tookNow) : this.#s.buckets.take(grantId, q.needs, ctx, ttlMs);
    const entry: Running = {
      id, clientId: q.clientId, worker: worker?.name ?? '', token: -1, reserved: q.needs, grantId, abort: new AbortController(), startedAt: now, overusers: new Set(),
    };
    this.#s.running.set(id, entry);
    inc(this.#s.runningByClient, q.clientId);
    if (worker) this.#s.slots.take(entry, worker.name);
    const needs = Object.entries(q.needs);
    if (needs.length === 0) this.#s.fairness.record(q.clientId, '', 1, now);
    for (const [res, amount] of needs) this.#s.fairness.record(q.clientId, res, amount, now);
    // A local limiter took at the call: the claim is written in this same synchronous stretch, as it always was
    // (one group commit, and audit rows in the order the buckets changed). A shared limiter's take is awaited first.
    const claiming = tookNow?.ok ? this.#claim(entry, q, now) : undefined;
    claiming?.catch(() => {}); // Handled where it is awaited.
    const p = this.#claimAndRun(entry, q, taking, now, claiming).catch((err) => {
      events.emit('worker:error', entry.worker, toErr(err));
    });
    this.#s.inflight.add(p);
    void p.finally(() => this.#s.inflight.delete(p));
  }

  /**
   * Claims made in one pass are written together (Store.claimMany: one
   * statement for all, in the order picked), when the pass ends; a claim made
   * outside a pass (after a shared limiter's take) joins the others resumed
   * in the same turn.
   */
  readonly #claims = new Coalescer<{ readonly id: string; readonly opts: ClaimOptions }, WorkRequest | null>(
    (items) => {
      const one = items[0];
      return items.length === 1 && one ? this.#s.d.store.claim(one.id, one.opts).then((r) => [r]) : this.#s.d.store.claimMany(items);
    },
  );

  /** Write the claims of the pass that just ended. */
  flushClaims(): void {
    this.#claims.flush();
  }

  #claim(entry: Running, q: Queued, now: number): Promise<WorkRequest | null> {
    const deadlineAt = now + q.timeoutMs;
    const worker = this.#s.d.registry.worker(q.worker);
    // A pull worker holds a job for `pullLeaseMs` at a time, renewed by its heartbeats: if it dies, the job
    // comes back then, not at its deadline. Any other worker holds it to the deadline.
    const heldUntil = worker?.transport === 'pull' ? Math.min(deadlineAt, now + (this.#s.o.pullLeaseMs ?? 30_000)) : deadlineAt;
    return this.#claims.add({
      id: entry.id,
      opts: {
        owner: this.#s.o.instanceId, now, leaseMs: heldUntil - now + this.#s.o.leaseGraceMs, reserved: { ...q.needs },
        ...(worker ? { start: { deadlineAt, leaseExpiresAt: heldUntil + this.#s.o.leaseGraceMs } } : {}),
      },
    });
  }

  async #claimAndRun(entry: Running, q: Queued, taking: Promise<TakeResult>, now: number, claiming?: Promise<WorkRequest | null>): Promise<void> {
    const { store, registry, events } = this.#s.d;
    let took: TakeResult;
    try {
      took = await taking;
    } catch (err) {
      // Whether it was taken is unknown: give back whatever may have been (the release is retried until the limiter answers).
      void this.#s.buckets.release(entry.grantId);
      this.#s.d.events.emit('worker:error', 'limiter', toErr(err));
      await this.#putBack(entry);
      return;
    }
    if (!took.ok) {
      await this.#putBack(entry);
      return;
    }
    if (this.#s.running.get(entry.id) !== entry) {
      // Cancelled (or taken back) while the take was on its way: whoever did it found no grant to release yet.
      void this.#s.buckets.release(entry.grantId);
      return;
    }
    const worker = registry.worker(q.worker);
    const deadlineAt = now + q.timeoutMs;
    let claimed: WorkRequest | null;
    try {
      claimed = await (claiming ?? this.#claim(entry, q, now));
    } catch (err) {
      // The database is out of reach: nothing was sent. Give the units back and queue it again when the
      // store answers (a claim that did commit is ours to reap when its lease runs out; a resync queues the rest).
      void this.#s.buckets.release(entry.grantId);
      events.emit('worker:error', 'store', toErr(err));
      await this.#putBack(entry).catch(() => {
        if (this.#s.running.get(entry.id) === entry) this.#p.reconcile.release(entry);
      });
      return;
    }
    if (!claimed) {
      // Cancelled between pick and claim: nothing was written for it. (A cancel released the grant already; again is harmless.)
      if (this.#s.running.get(entry.id) === entry) this.#p.reconcile.release(entry);
      void this.#s.buckets.release(entry.grantId);
      return;
    }
    entry.token = claimed.leaseToken;
    events.emit('request:claimed', claimed);
    if (!worker) {
      await this.#p.reconcile.finish(entry, claimed, { ok: false, error: { code: 'WORKER_UNAVAILABLE', message: `Cannot dispatch: worker "${q.worker}" is not registered`, retryable: false }, usage: null });
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

  /**
   * A launched request whose take was refused or failed goes back to the
   * queue as the store has it (PENDING: it was never claimed, no attempt
   * was used), unless something else took it out of `running` meanwhile.
   * The pass sees it again: the limiter's answer is in its views now, or its
   * back-off is on.
   */
  async #putBack(entry: Running): Promise<void> {
    if (this.#s.running.get(entry.id) !== entry) return;
    this.#p.reconcile.release(entry);
    const r = await this.#s.d.store.getRequest(entry.id);
    if (r?.state === 'PENDING' && !this.#s.running.has(r.id)) this.#p.intake.push(r);
    this.#p.loop.kick();
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
          leaseToken: entry.token,
        });
    } finally {
      clearTimeout(timer);
    }
    await this.#p.reconcile.finish(entry, req, outcome);
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
      await this.#p.reconcile.finish(x.entry, x.req, outcome);
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
}
