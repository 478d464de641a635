/**
 * Follows v2 executions until they end. One timer serves every watched
 * execution: each tick polls those not already being polled, at most
 * `concurrency` at once, round-robin, so a thousand executions in flight
 * cost one GET each per interval rather than a thousand timers.
 */
import type { Clock } from '../core/clock.ts';
import { isTerminalLegacy, type LegacyClient, type LegacyExecution } from './legacy-client.ts';

export type WatchEnd =
  | { readonly kind: 'ended'; readonly execution: LegacyExecution; readonly observedAt: number }
  /** v2 answered 404: it does not know the execution (any more). */
  | { readonly kind: 'lost' }
  | { readonly kind: 'timeout'; readonly last: LegacyExecution | null }
  /** unwatch() or stop(): nobody needs the answer any more. */
  | { readonly kind: 'stopped' };

interface Watch {
  readonly deadlineAt: number;
  polling: boolean;
  last: LegacyExecution | null;
  readonly resolve: (e: WatchEnd) => void;
}

export class LegacyPoller {
  readonly #legacy: LegacyClient;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #concurrency: number;
  readonly #watches = new Map<string, Watch>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;

  /** @param o.intervalMs time between polls of one execution; @param o.concurrency GETs at once @default 32 */
  constructor(legacy: LegacyClient, clock: Clock, o: { intervalMs: number; concurrency?: number }) {
    this.#legacy = legacy;
    this.#clock = clock;
    this.#intervalMs = o.intervalMs;
    this.#concurrency = o.concurrency ?? 32;
  }

  get size(): number {
    return this.#watches.size;
  }

  /** Resolves when the execution ends, v2 forgets it, `deadlineAt` passes, or it is unwatched. */
  watch(executionId: string, deadlineAt: number): Promise<WatchEnd> {
    if (this.#abort.signal.aborted) return Promise.resolve({ kind: 'stopped' });
    this.#watches.get(executionId)?.resolve({ kind: 'stopped' });
    return new Promise((resolve) => {
      this.#watches.set(executionId, { deadlineAt, polling: false, last: null, resolve });
      this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs);
    });
  }

  unwatch(executionId: string): void {
    this.#end(executionId, { kind: 'stopped' });
  }

  /** Stop polling; every open watch resolves 'stopped'. Idempotent. */
  stop(): void {
    this.#abort.abort();
    for (const id of this.#watches.keys()) this.#end(id, { kind: 'stopped' });
  }

  #end(id: string, e: WatchEnd): void {
    const w = this.#watches.get(id);
    if (!w) return;
    this.#watches.delete(id);
    w.resolve(e);
    if (this.#watches.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = this.#clock.now();
    const due: string[] = [];
    for (const [id, w] of this.#watches) {
      if (w.polling) continue;
      if (now > w.deadlineAt) {
        this.#end(id, { kind: 'timeout', last: w.last });
        continue;
      }
      if (this.#inFlight + due.length >= this.#concurrency) break;
      due.push(id);
    }
    for (const id of due) void this.#poll(id);
  }

  async #poll(id: string): Promise<void> {
    const w = this.#watches.get(id);
    if (!w) return;
    // Round-robin: the polled one goes to the back of the line.
    this.#watches.delete(id);
    this.#watches.set(id, w);
    w.polling = true;
    this.#inFlight++;
    try {
      const ex = await this.#legacy.get(id, this.#abort.signal);
      if (this.#watches.get(id) !== w) return;
      if (ex === null) this.#end(id, { kind: 'lost' });
      else if (isTerminalLegacy(ex.status)) this.#end(id, { kind: 'ended', execution: ex, observedAt: this.#clock.now() });
      else w.last = ex;
    } catch {
      // Unreachable or a bad answer: poll again next tick until the deadline.
    } finally {
      w.polling = false;
      this.#inFlight--;
    }
  }
}
