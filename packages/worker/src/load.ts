/** How busy a served worker is, for the v2 health check: jobs in flight and a moving average of their duration. */
export class LoadStats {
  #inFlight = 0;
  #avgMs = 0;
  #completed = 0;

  /** Jobs running now, on every protocol the server speaks. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Mean duration of the last ~20 jobs (exponential moving average), 0 before the first one. */
  get avgMs(): number {
    return Math.round(this.#avgMs);
  }

  /** Count `work` as in flight until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.#inFlight--;
      const ms = performance.now() - started;
      this.#completed++;
      // The first jobs weigh more so the average is meaningful early on.
      const alpha = Math.max(1 / this.#completed, 0.1);
      this.#avgMs += alpha * (ms - this.#avgMs);
    }
  }
}
