import type { StandardResponse } from './response.ts';

/**
 * Remembers successful responses by key (LRU) and tracks runs still in flight,
 * because Allot delivers at least once and a retry may arrive while the first run is working.
 */
export class DedupeCache {
  readonly #max: number;
  readonly #done = new Map<string, StandardResponse>();
  readonly #running = new Map<string, Promise<StandardResponse>>();

  constructor(max: number) {
    this.#max = max;
  }

  /** A stored successful response, refreshed as most recently used. */
  get(key: string): StandardResponse | undefined {
    const hit = this.#done.get(key);
    if (hit !== undefined) {
      this.#done.delete(key);
      this.#done.set(key, hit);
    }
    return hit;
  }

  running(key: string): Promise<StandardResponse> | undefined {
    return this.#running.get(key);
  }

  /** Register a run; only its success is remembered, so a failed job can be retried for real. */
  track(key: string, run: Promise<StandardResponse>): void {
    this.#running.set(key, run);
    run.then(
      (res) => {
        this.#running.delete(key);
        if (res.success) this.#remember(key, res);
      },
      () => this.#running.delete(key),
    );
  }

  get size(): number {
    return this.#done.size;
  }

  #remember(key: string, res: StandardResponse): void {
    this.#done.delete(key);
    this.#done.set(key, res);
    if (this.#done.size > this.#max) {
      const oldest = this.#done.keys().next();
      if (!oldest.done) this.#done.delete(oldest.value);
    }
  }
}
