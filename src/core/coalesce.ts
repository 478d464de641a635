/**
 * Coalesces calls made in one stretch of the event loop into one batch: each
 * `add` resolves with its own item's result once the batch is run. The batch
 * runs when `flush()` is called or, failing that, from `schedule` (by default
 * `process.nextTick`, which Node runs once the microtasks queued so far have
 * all run, so promise continuations resumed together land in one batch).
 * A batch that fails rejects every call in it.
 */
export class Coalescer<I, O> {
  readonly #run: (items: I[]) => Promise<readonly O[]>;
  readonly #schedule: (fn: () => void) => void;
  #pending: { readonly item: I; readonly resolve: (o: O) => void; readonly reject: (e: unknown) => void }[] = [];

  /** @param run one result per item, in order */
  constructor(run: (items: I[]) => Promise<readonly O[]>, schedule: (fn: () => void) => void = process.nextTick) {
    this.#run = run;
    this.#schedule = schedule;
  }

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.#pending.length === 0) this.#schedule(() => this.flush());
      this.#pending.push({ item, resolve, reject });
    });
  }

  /** Runs what was added so far as one batch (nothing when nothing was). */
  flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let ran: Promise<readonly O[]>;
    try {
      ran = this.#run(batch.map((b) => b.item));
    } catch (err) {
      ran = Promise.reject(err);
    }
    ran.then(
      (out) => {
        if (out.length !== batch.length) throw new Error(`a batch of ${batch.length} gave ${out.length} results`);
        batch.forEach((b, i) => b.resolve(out[i] as O));
      },
    ).catch((err: unknown) => {
      for (const b of batch) b.reject(err);
    });
  }
}
