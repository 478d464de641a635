/**
 * Slots of workers' `max_concurrency`: how many requests each worker runs
 * now, and the pipeline stages waiting for one.
 *
 * A request takes a slot of its worker when it starts (the scheduler starts
 * it only while one is free). A pipeline moves from stage to stage: it gives
 * up the slot of the stage that ended before it asks for the next worker's,
 * so pipelines crossing the same workers in different orders never wait on
 * each other; a freed slot goes straight to the oldest waiting stage, so
 * new requests cannot take it first.
 */

/** Who holds or waits for a slot: its `worker` is the worker whose slot it holds ('' for none). */
export interface SlotHolder {
  worker: string;
}

interface Waiter {
  readonly holder: SlotHolder;
  readonly resolve: () => void;
}

export class WorkerSlots {
  readonly #taken = new Map<string, number>();
  readonly #waiters = new Map<string, Waiter[]>();
  /** Whether a waiter still wants its slot (it may have ended while waiting). */
  readonly #live: (h: SlotHolder) => boolean;

  constructor(live: (h: SlotHolder) => boolean) {
    this.#live = live;
  }

  taken(worker: string): number {
    return this.#taken.get(worker) ?? 0;
  }

  /** Take a slot without checking the limit (the scheduler checked it). */
  take(holder: SlotHolder, worker: string): void {
    this.#taken.set(worker, this.taken(worker) + 1);
    holder.worker = worker;
  }

  /** Give up the holder's slot; it goes to the oldest live waiter of that worker, if any. `holder.worker` is kept. */
  free(holder: SlotHolder): void {
    const worker = holder.worker;
    if (!worker) return;
    const q = this.#waiters.get(worker);
    for (let w = q?.shift(); w; w = q?.shift()) {
      if (!this.#live(w.holder)) continue;
      w.holder.worker = worker; // The slot changes hands without being counted free.
      w.resolve();
      return;
    }
    const n = this.taken(worker) - 1;
    if (n > 0) this.#taken.set(worker, n);
    else this.#taken.delete(worker);
  }

  /**
   * Move `holder` to a slot of `worker` (at most `max` at once), waiting
   * while there is none. Resolves holding it, or without one when `signal`
   * aborts first (then `holder.worker` is '').
   */
  async move(holder: SlotHolder, worker: string, max: number, signal: AbortSignal): Promise<void> {
    if (holder.worker === worker) return;
    this.free(holder);
    holder.worker = '';
    if (this.taken(worker) < max) return this.take(holder, worker);
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const q = this.#waiters.get(worker) ?? [];
      const waiter: Waiter = {
        holder,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = q.indexOf(waiter);
        if (i >= 0) q.splice(i, 1);
        resolve();
      };
      q.push(waiter);
      this.#waiters.set(worker, q);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
