/**
 * Runs the requests routed to Orchestrator v2 (system 'v2'). The client
 * sees one API: the request was admitted, budget-checked and held like any
 * other; the forwarder sends it to v2 once it is durable, records v2's
 * execution id as it moves to RUNNING, follows the execution, and ends the
 * request with v2's output and cost (charged to the budget, hold released).
 *
 * Invariants:
 * - A request is sent to v2 only after it is durable, with its Allot id as
 *   v2's `request_id`, so a submit repeated after a crash or a lost answer
 *   finds the execution v2 already has instead of running the work again.
 * - Every state change goes through `store.updateExternal`, which refuses
 *   moves that are no longer legal: a request the client cancelled while it
 *   was being sent stays CANCELLED, and v2 is asked to cancel its copy.
 * - Nothing is kept only in memory: at start, PENDING v2 requests are sent
 *   (again; v2 dedupes) and RUNNING ones are followed again.
 * - Work imported from v2 while it ran there (`allot migrate import`) is
 *   v2's: it is followed to its end, but never timed out, cancelled or
 *   failed because v2's API does not know it (re-importing ends it too).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { usdToNano } from '../core/money.ts';
import type { Events } from '../events.ts';
import type { RequestError, WorkRequest } from '../model.ts';
import type { Store } from '../store/store.ts';
import { isTerminalLegacy, LegacyError, type LegacyClient, type LegacyExecution, type LegacySubmit } from './legacy-client.ts';
import type { LegacyPoller } from './poller.ts';

export const ACTOR = 'migration:v2';

/** What v2 is sent for a request: the same template, input and parameters a worker would get. */
export function legacyPayload(r: WorkRequest, requestId: string = r.id): LegacySubmit {
  return {
    requestId, template: r.template, clientId: r.clientId, input: r.input, priority: r.urgency,
    parameters: { ...r.parameters, ...(r.model ? { model: r.model } : {}), max_tokens: r.maxTokens },
  };
}

/** v2's failure as a request error. */
export function legacyFailure(ex: LegacyExecution): RequestError {
  if (ex.status === 'cancelled') return { code: 'CANCELLED', message: 'Cancelled in Orchestrator v2', retryable: false };
  return { code: 'WORKER_ERROR', message: `Orchestrator v2: ${ex.error ? `${ex.error.code}: ${ex.error.message}` : 'the execution failed'}`, retryable: false };
}

export interface ForwarderDeps {
  readonly store: Store;
  readonly events: Events;
  readonly clock: Clock;
  readonly legacy: LegacyClient;
  readonly poller: LegacyPoller;
  readonly log: Logger;
  /** A v2 execution not ended this long after it was sent is failed and cancelled in v2. */
  readonly timeoutMs: number;
}

export class Forwarder {
  readonly #d: ForwarderDeps;
  readonly #abort = new AbortController();
  /** Requests being sent or followed, so that a resume does not pick them up twice. */
  readonly #active = new Set<string>();
  readonly #tasks = new Set<Promise<void>>();

  constructor(d: ForwarderDeps) {
    this.#d = d;
    d.events.on('request:accepted', (r) => {
      if (r.system === 'v2' && r.state === 'PENDING') this.take(r);
    });
    d.events.on('request:cancelled', (r) => {
      if (r.system !== 'v2' || !r.externalId) return;
      d.poller.unwatch(r.externalId);
      void d.legacy.cancel(r.externalId);
    });
  }

  /** Requests being sent to or followed in v2. */
  get inFlight(): number {
    return this.#active.size;
  }

  /**
   * Send a PENDING v2 request to v2 and follow it, or follow one RUNNING
   * there already (with its execution id). `imported`: v2's own work, only
   * followed (see the invariants above).
   */
  take(r: WorkRequest, o: { readonly imported?: boolean } = {}): void {
    if (this.#abort.signal.aborted || this.#active.has(r.id)) return;
    this.#active.add(r.id);
    const follow = { owned: !o.imported, deadlineAt: o.imported ? Number.POSITIVE_INFINITY : this.#d.clock.now() + this.#d.timeoutMs };
    const task = (r.state === 'RUNNING' || r.state === 'PREPARING' ? this.#follow(r, follow) : this.#forward(r))
      .catch((err: unknown) => this.#d.log.error({ err, id: r.id }, 'forwarding to Orchestrator v2 failed; the request is picked up again at the next start'))
      .finally(() => {
        this.#active.delete(r.id);
        this.#tasks.delete(task);
      });
    this.#tasks.add(task);
  }

  /** Pick up every unfinished v2 request (after a restart, or imported as running). Returns how many. */
  async resume(): Promise<number> {
    let before: string | undefined;
    let n = 0;
    for (;;) {
      const page = await this.#d.store.listRequests({ states: ['PENDING', 'PREPARING', 'RUNNING'], includeShadow: true, limit: 10_000, before });
      for (const r of page) {
        if (r.system !== 'v2') continue;
        if (r.state === 'PENDING' || ((r.state === 'RUNNING' || r.state === 'PREPARING') && r.externalId)) {
          // The first audit row says how it came: admitted and routed here, or imported from v2.
          const created = r.state === 'PENDING' ? undefined : (await this.#d.store.listAudit({ requestId: r.id, limit: 1 }))[0];
          this.take(r, { imported: created?.data?.imported === true });
          n++;
        } else this.#d.log.warn({ id: r.id, state: r.state }, 'v2 request with no execution id in flight; left as is');
      }
      if (page.length < 10_000) return n;
      before = page.at(-1)?.id;
    }
  }

  /** Stop sending and following; unfinished requests stay as they are in the store, for the next start. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#tasks);
  }

  async #forward(r: WorkRequest): Promise<void> {
    const { store, legacy, clock } = this.#d;
    const signal = this.#abort.signal;
    await store.durable();
    const deadlineAt = clock.now() + this.#d.timeoutMs;
    let ex: LegacyExecution | undefined;
    for (let attempt = 0; !ex; attempt++) {
      // Still ours to send? The client may have cancelled it meanwhile.
      if ((await store.getRequest(r.id))?.state !== 'PENDING') return;
      try {
        ex = await legacy.submit(legacyPayload(r), signal);
      } catch (err) {
        if (signal.aborted) return;
        const e = err instanceof LegacyError ? err : new LegacyError(String(err), true, null);
        if (!e.retryable || clock.now() >= deadlineAt) {
          await this.#end(r, null, { code: e.retryable ? 'WORKER_UNAVAILABLE' : 'WORKER_ERROR', message: `Orchestrator v2 did not take the request: ${e.message}`, retryable: false });
          return;
        }
        await sleep(Math.min(100 * 2 ** attempt, 5_000), undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
      }
    }
    const now = clock.now();
    const running = await store.updateExternal(r.id, { now, to: 'RUNNING', actor: ACTOR, externalId: ex.executionId, startedAt: now });
    if (!running) {
      // Cancelled while it was being sent: v2 should not do the work either.
      if ((await store.getRequest(r.id))?.state === 'CANCELLED') await legacy.cancel(ex.executionId);
      return;
    }
    if (isTerminalLegacy(ex.status)) {
      // A submission repeated after a crash can find v2 done with it already. The answer to a submit names
      // only the status: the execution is read for its output and cost, or followed when it cannot be.
      const full = await legacy.get(ex.executionId, signal).catch(() => null);
      if (full && isTerminalLegacy(full.status)) await this.#settle(running, full);
      else await this.#follow(running, { owned: true, deadlineAt });
    } else await this.#follow(running, { owned: true, deadlineAt });
  }

  async #follow(r: WorkRequest, o: { owned: boolean; deadlineAt: number }): Promise<void> {
    const id = r.externalId as string;
    const end = await this.#d.poller.watch(id, o.deadlineAt);
    switch (end.kind) {
      case 'stopped':
        return;
      case 'ended':
        return this.#settle(r, end.execution);
      case 'lost':
        if (!o.owned) {
          this.#d.log.warn({ id: r.id, execution: id }, "Orchestrator v2's API does not know this imported execution; left RUNNING for a re-import to end");
          return;
        }
        return this.#end(r, null, { code: 'WORKER_ERROR', message: `Orchestrator v2 no longer knows execution ${id}`, retryable: false });
      case 'timeout':
        await this.#d.legacy.cancel(id);
        return this.#end(r, null, { code: 'REQUEST_TIMEOUT', message: `Orchestrator v2 did not finish execution ${id} within ${this.#d.timeoutMs} ms; cancelled there`, retryable: false });
    }
  }

  #settle(r: WorkRequest, ex: LegacyExecution): Promise<void> {
    return ex.status === 'completed' ? this.#end(r, ex, null) : this.#end(r, ex, legacyFailure(ex));
  }

  /** COMPLETED with v2's output and cost (error null), or FAILED with `error`. */
  async #end(r: WorkRequest, ex: LegacyExecution | null, error: RequestError | null): Promise<void> {
    const { store, clock, events } = this.#d;
    const now = clock.now();
    const done = await store.updateExternal(r.id, {
      now, to: error ? 'FAILED' : 'COMPLETED', actor: ACTOR, output: ex?.output ?? null, error, usage: ex?.usage ?? null, costNano: ex ? usdToNano(ex.costUsd) : 0,
    });
    if (!done) return;
    if (done.state === 'COMPLETED') events.emit('request:completed', done, now - (done.startedAt ?? done.createdAt));
    else events.emit('request:failed', done);
  }
}
