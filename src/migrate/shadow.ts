/**
 * Shadow mode: every new request also runs on the other system, only to
 * compare. The client gets the primary's answer (the system the routing
 * chose); the copy never reaches it.
 *
 * - Primary Allot: the copy is a v2 execution, submitted with request_id
 *   `<id>:shadow`; it costs nothing in Allot.
 * - Primary v2: the copy is an Allot request with `shadowOf` set, admitted
 *   through the normal path under the same client, so it is scheduled,
 *   reserved and charged like the real thing (the work is real), and left
 *   out of the client's request lists.
 *
 * When both have ended, the two sides (status, output, cost, latency from
 * submission to the end as Allot saw it) are compared (differences.ts) and the
 * result is recorded, differences or not. A primary the client cancelled is
 * not compared, and its copy is cancelled. A comparison under way is kept in
 * the store (`beginShadow`), so one still open when Allot stops is resumed
 * at the next start: the Allot copy is found again (`findShadowCopy`), and
 * the v2 copy is submitted again under the same request_id, which v2 answers
 * with the execution it already has. The v2 side's latency after a restart
 * is v2's own (started → completed), as Allot did not see it end.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { usdToNano } from '../core/money.ts';
import { isTerminal } from '../core/states.ts';
import type { Events } from '../events.ts';
import type { WorkRequest } from '../model.ts';
import type { ShadowSide, Store } from '../store/store.ts';
import { differences, v2Status, type Tolerances } from './differences.ts';
import { legacyPayload } from './forwarder.ts';
import { isTerminalLegacy, type LegacyClient } from './legacy-client.ts';
import type { LegacyPoller, WatchEnd } from './poller.ts';
import type { MigrationSettings } from './switches.ts';

export interface ShadowDeps {
  readonly store: Store;
  readonly events: Events;
  readonly clock: Clock;
  readonly legacy: LegacyClient;
  readonly poller: LegacyPoller;
  readonly settings: MigrationSettings;
  readonly log: Logger;
  readonly tolerances: Tolerances;
  /** How long to wait for the v2 copy. */
  readonly timeoutMs: number;
  /** Admit the Allot copy of a v2 request (admission with `shadowOf`). */
  submitCopy(primary: WorkRequest): Promise<WorkRequest>;
  /** Cancel an Allot request (the copy of a primary that was cancelled). */
  cancel(id: string): Promise<unknown>;
}

/** An Allot request as one side of a comparison. */
export function requestSide(r: WorkRequest): ShadowSide {
  return { status: r.state, output: r.output ?? null, costNano: r.costNano, latencyMs: r.completedAt === null ? null : r.completedAt - r.createdAt };
}

export class Shadow {
  readonly #d: ShadowDeps;
  readonly #abort = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  /** Allot requests a comparison waits for, by id. */
  readonly #waiting = new Map<string, (r: WorkRequest | null) => void>();

  constructor(d: ShadowDeps) {
    this.#d = d;
    d.events.on('request:accepted', (r) => {
      // Copies are not copied again, and work imported from v2 (it has v2's execution id) is not run twice.
      if (!r.shadowOf && !r.externalId && d.settings.shadows(r.id) && !this.#abort.signal.aborted) this.#track(this.#begin(r));
    });
    const settle = (r: WorkRequest): void => {
      const fn = this.#waiting.get(r.id);
      if (!fn) return;
      this.#waiting.delete(r.id);
      fn(r);
    };
    d.events.on('request:completed', settle);
    d.events.on('request:failed', settle);
    d.events.on('request:cancelled', settle);
  }

  /** Comparisons under way. */
  get inFlight(): number {
    return this.#tasks.size;
  }

  /** Resume the comparisons the previous run left open. Returns how many. */
  async resume(): Promise<number> {
    const { store } = this.#d;
    let n = 0;
    for (const id of await store.pendingShadows()) {
      const primary = await store.getRequest(id);
      if (!primary || primary.state === 'CANCELLED') {
        const copy = primary && (await store.findShadowCopy(id));
        if (copy) await this.#d.cancel(copy.id).catch(() => undefined);
        await store.dropShadow(id);
        continue;
      }
      this.#track(this.#compare(primary, true));
      n++;
    }
    return n;
  }

  /** Stop comparing; the open comparisons stay in the store for the next start. Idempotent. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const [id, fn] of this.#waiting) {
      this.#waiting.delete(id);
      fn(null);
    }
    await Promise.allSettled(this.#tasks);
  }

  #track(p: Promise<void>): void {
    const task = p
      .catch((err: unknown) => this.#d.log.warn({ err }, 'shadow comparison abandoned'))
      .finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  /** The Allot request once it has ended (null when Allot stops first). */
  async #ended(id: string): Promise<WorkRequest | null> {
    const p = new Promise<WorkRequest | null>((resolve) => this.#waiting.set(id, resolve));
    // It may have ended before we started to wait: the store knows.
    const cur = await this.#d.store.getRequest(id);
    if (cur && isTerminal(cur.state) && this.#waiting.has(id)) {
      this.#waiting.delete(id);
      return cur;
    }
    return p;
  }

  async #begin(primary: WorkRequest): Promise<void> {
    await this.#d.store.beginShadow(primary.id, this.#d.clock.now());
    await this.#compare(primary, false);
  }

  /** Run the other side and compare. Returns early, leaving the comparison open, when Allot stops. */
  async #compare(primary: WorkRequest, resumed: boolean): Promise<void> {
    const { clock, legacy, poller, log, store } = this.#d;
    let allot: ShadowSide;
    let v2: ShadowSide;
    if (primary.system === 'v2') {
      let copy: WorkRequest;
      try {
        copy = (resumed ? await store.findShadowCopy(primary.id) : null) ?? (await this.#d.submitCopy(primary));
      } catch (err) {
        log.info({ id: primary.id, err: (err as Error).message }, 'shadow copy not admitted in Allot; not compared');
        await store.dropShadow(primary.id);
        return;
      }
      const p = await this.#ended(primary.id);
      if (!p) return;
      if (p.state === 'CANCELLED') {
        await this.#d.cancel(copy.id).catch(() => undefined);
        await store.dropShadow(primary.id);
        return;
      }
      const c = await this.#ended(copy.id);
      if (!c) return;
      allot = requestSide(c);
      v2 = requestSide(p);
    } else {
      const sentAt = clock.now();
      const ex = await legacy.submit(legacyPayload(primary, `${primary.id}:shadow`), this.#abort.signal);
      // A copy sent again after a restart can find v2 done with it already. The answer to a submit names only the
      // status, not the output or cost: the execution is read for them (followed when it cannot be read).
      const full = isTerminalLegacy(ex.status) ? await legacy.get(ex.executionId, this.#abort.signal).catch(() => null) : null;
      const end: WatchEnd = full && isTerminalLegacy(full.status)
        ? { kind: 'ended', execution: full, observedAt: clock.now() }
        : await poller.watch(ex.executionId, sentAt + this.#d.timeoutMs);
      if (end.kind === 'stopped') return;
      const p = await this.#ended(primary.id);
      if (!p) return;
      if (p.state === 'CANCELLED') {
        if (end.kind !== 'ended') await legacy.cancel(ex.executionId);
        await store.dropShadow(primary.id);
        return;
      }
      allot = requestSide(p);
      if (end.kind === 'ended') {
        const e = end.execution;
        const own = e.startedAt !== null && e.completedAt !== null ? e.completedAt - e.startedAt : null;
        v2 = { status: v2Status(e.status), output: e.status === 'completed' ? e.output : null, costNano: usdToNano(e.costUsd), latencyMs: resumed ? own : end.observedAt - sentAt };
      } else {
        if (end.kind === 'timeout') await legacy.cancel(ex.executionId);
        v2 = { status: end.kind === 'timeout' ? 'TIMEOUT' : 'LOST', output: null, costNano: 0, latencyMs: null };
      }
    }
    const diff = differences(allot, v2, this.#d.tolerances);
    await this.#d.store.recordShadow({ at: clock.now(), requestId: primary.id, template: primary.template, primary: primary.system ?? 'allot', differences: diff, allot, v2 });
    if (diff.length) log.info({ id: primary.id, template: primary.template, differences: diff }, 'shadow comparison: Allot and v2 differ');
  }
}
