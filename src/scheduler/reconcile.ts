/**
 * Reconcile: the end of an attempt. A worker's answer settles the attempt's
 * grant (src/scheduler/buckets.ts) and the budget at what it used, then the request completes, waits for a
 * retry or fails; the reaper takes back requests whose lease expired;
 * retries whose time has come are queued again; a cancel ends whatever
 * state the request is in. Whoever takes a request out of `running` ends
 * its reservation; a result that arrives after that is stale.
 */
import type { Usage } from '../core/cost.ts';
import { usageCost } from '../core/cost.ts';
import { backoffDelay, shouldRetry } from '../core/retry.ts';
import type { Overuse, WorkRequest } from '../model.ts';
import { Coalescer } from '../core/coalesce.ts';
import type { CompleteOptions, Settlement } from '../store/store.ts';
import type { WorkerOutcome } from '../workers/transport.ts';
import type { Parts } from './parts.ts';
import { dec, type Running, type SchedulerState } from './state.ts';

export class Reconcile {
  readonly #s: SchedulerState;
  readonly #p: Parts;

  /**
   * Completions resumed in one turn (a pull worker's batch of results, or
   * answers arriving together) are written together: Store.completeMany.
   */
  readonly #completions: Coalescer<{ readonly id: string; readonly token: number; readonly opts: CompleteOptions }, WorkRequest | null>;

  constructor(s: SchedulerState, p: Parts) {
    this.#s = s;
    this.#p = p;
    this.#completions = new Coalescer((items) => {
      const one = items[0];
      return items.length === 1 && one ? s.d.store.complete(one.id, one.token, one.opts).then((r) => [r]) : s.d.store.completeMany(items);
    });
  }

  /** Reconcile a worker's answer: settle buckets and budget, then complete, retry or fail. */
  async finish(entry: Running, req: WorkRequest, outcome: WorkerOutcome): Promise<void> {
    const { store, events, clock } = this.#s.d;
    const mine = this.#s.running.get(entry.id);
    if (mine !== entry) {
      events.emit('request:stale-result', entry.id, entry.token);
      return;
    }
    this.release(entry);
    const now = clock.now();
    const settlement = this.#settlement(req, entry, outcome.usage, now);
    let next: WorkRequest | null;
    if (outcome.ok) {
      next = await this.#completions.add({ id: entry.id, token: entry.token, opts: { now, output: outcome.output, settlement } });
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
    this.#p.loop.kick();
  }

  /**
   * What an attempt used and cost; its grant is settled at what it used (not
   * awaited: a LocalLimiter settles at the call, a shared one is retried
   * until it answers). Usage a worker did not report is unknown: nothing is
   * charged to the budget for it, and its reservation is treated as consumed
   * by the buckets, which is the safe side for provider limits.
   */
  #settlement(req: WorkRequest, entry: Running, usage: Usage | null, now: number): Settlement {
    if (!usage) {
      void this.#s.buckets.settle(entry.grantId, entry.reserved, now);
      return { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, returned: {} };
    }
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
    void this.#s.buckets.settle(entry.grantId, used, now);
    return { usage, costNano: nano, returned, ...(overuse ? { overuse } : {}) };
  }

  /** Take a request out of `running`: its client's count and its worker slot are freed. Whoever does this ends its reservation. */
  release(entry: Running): void {
    this.#s.running.delete(entry.id);
    dec(this.#s.runningByClient, entry.clientId);
    this.#s.slots.free(entry); // `worker` stays set: its outcome is reported against it.
  }

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
    if (n) this.#p.loop.kick();
    return n;
  }

  /**
   * Take back requests whose lease expired, and units whose reservation
   * expired; let the limiter forget expired grants, read levels other
   * instances changed, and retry settlements it did not answer. Exposed for tests.
   */
  async reap(): Promise<number> {
    // Other instances take and give back too: what waits may fit now.
    if ((await this.#s.buckets.maintain()) && this.#s.queue.size > 0) this.#p.loop.kick();
    if (await this.#s.units?.sweep()) this.#p.loop.kick();
    if (!this.#p.loop.leading) return 0; // The rest is the scheduler's.
    const now = this.#s.d.clock.now();
    this.#p.deferred.observe(now);
    this.#p.deferred.runOverdue(now);
    if (this.#s.queue.size > this.#s.queue.nonDeferredSize) this.#p.loop.kick(); // Deferred work may have become allowed.
    // Shared storage: an instance that stopped saying it is alive lost its leases now, not when they expire.
    const reaped = await this.#s.d.store.reapExpiredLeases(now, { self: this.#s.o.instanceId, takeOrphaned: this.#s.d.store.capabilities.multiProcess });
    for (const r of reaped) {
      const mine = this.#s.running.get(r.id);
      if (mine) {
        this.release(mine);
        mine.abort.abort({ code: 'REQUEST_TIMEOUT' });
      }
      if (r.state === 'WAITING_RETRY') this.#s.retries.add(r.id, r.runAt ?? now);
      else if (r.state === 'FAILED') {
        this.#s.d.events.emit('request:failed', r);
        await this.#handOver(r.id);
      }
    }
    if (reaped.length) this.#p.loop.kick();
    return reaped.length;
  }

  /** A request ended without a result: if identical ones waited for it, they run on their own (the first leads). */
  async #handOver(id: string): Promise<void> {
    for (const r of await this.#s.sharing.endedWithout(id)) this.#p.intake.push(r);
    this.#p.loop.kick();
  }

  /** Cancel from any cancellable state; releases the hold and any reservation at once. */
  async cancel(id: string, actor: string): Promise<WorkRequest | null> {
    const now = this.#s.d.clock.now();
    const run = this.#s.running.get(id);
    if (run) {
      this.release(run);
      void this.#s.buckets.release(run.grantId);
    }
    this.#p.intake.unqueue(id);
    this.#s.retries.delete(id);
    const r = await this.#s.d.store.cancel(id, { now, actor, returned: run ? { ...run.reserved } : {} });
    if (run) run.abort.abort({ code: 'CANCELLED' });
    if (r) {
      this.#s.d.events.emit('request:cancelled', r);
      await this.#handOver(id);
    }
    this.#p.loop.kick();
    return r;
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
