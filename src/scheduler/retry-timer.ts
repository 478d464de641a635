/**
 * Requests waiting to be retried (WAITING_RETRY), by when they may run
 * again, and one timer for the earliest of them. The timer is armed only
 * while started, and never earlier than needed: adding a later retry leaves
 * it as it is.
 */
import type { Clock } from '../core/clock.ts';
import { Heap } from '../core/heap.ts';

export class RetryTimer {
  readonly #clock: Clock;
  readonly #onDue: () => void;
  readonly #heap = new Heap<{ id: string; runAt: number }>((a, b) => a.runAt < b.runAt);
  /** Live ids; heap entries of ids no longer here are skipped when they surface. */
  readonly #ids = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #running = false;

  /** @param onDue called when the earliest retry's time has come (it then calls `takeDue`). */
  constructor(clock: Clock, onDue: () => void) {
    this.#clock = clock;
    this.#onDue = onDue;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Start arming the timer (retries added before are kept). */
  start(): void {
    this.#running = true;
    this.arm();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** Wait for `runAt`; a request already waiting keeps its time. */
  add(id: string, runAt: number): void {
    if (this.#ids.has(id)) return;
    this.#ids.add(id);
    this.#heap.push({ id, runAt });
    this.arm();
  }

  /** Forget `id` (cancelled); true if it was waiting. */
  delete(id: string): boolean {
    return this.#ids.delete(id);
  }

  /** The ids whose time has come by `now`, earliest first; they are no longer waiting. */
  takeDue(now: number): string[] {
    const out: string[] = [];
    for (let top = this.#heap.peek(); top && top.runAt <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      if (this.#ids.delete(top.id)) out.push(top.id);
    }
    return out;
  }

  /** Set the timer for the earliest waiting retry, unless one is set for that time or earlier. */
  arm(): void {
    let next = this.#heap.peek();
    while (next && !this.#ids.has(next.id)) {
      this.#heap.pop();
      next = this.#heap.peek();
    }
    if (!next || !this.#running) return;
    if (next.runAt >= this.#timerAt && this.#timer) return;
    clearTimeout(this.#timer);
    this.#timerAt = next.runAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#onDue();
    }, Math.max(0, next.runAt - this.#clock.now()));
    this.#timer.unref();
  }
}
