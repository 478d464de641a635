/**
 * Request batching: items with the same batch key are collected for up to
 * `windowMs` (or until `maxSize` are waiting) and handed to `flush` together.
 * `add` resolves when the batch it joined has been flushed, so callers can
 * await their own request's end as if it had been dispatched alone.
 */
export class Batcher<T> {
  readonly #flush: (key: string, items: T[]) => Promise<void>;
  readonly #open = new Map<string, { items: T[]; waiters: (() => void)[]; timer: NodeJS.Timeout }>();

  constructor(flush: (key: string, items: T[]) => Promise<void>) {
    this.#flush = flush;
  }

  add(key: string, item: T, windowMs: number, maxSize: number): Promise<void> {
    return new Promise((resolve) => {
      let b = this.#open.get(key);
      if (!b) {
        const timer = setTimeout(() => void this.#run(key), windowMs);
        b = { items: [], waiters: [], timer };
        this.#open.set(key, b);
      }
      b.items.push(item);
      b.waiters.push(resolve);
      if (b.items.length >= maxSize) void this.#run(key);
    });
  }

  async #run(key: string): Promise<void> {
    const b = this.#open.get(key);
    if (!b) return;
    this.#open.delete(key);
    clearTimeout(b.timer);
    try {
      await this.#flush(key, b.items);
    } finally {
      for (const w of b.waiters) w();
    }
  }

  /** Send every open batch now (shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.#open.keys()].map((k) => this.#run(k)));
  }
}
