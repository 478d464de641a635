/** Sweep expired entries at most this often (lazily, on writes): no timer keeps the process alive. */
const SWEEP_EVERY_MS = 60_000;

/** A Map whose entries expire `ttlMs` after they were last set; expired entries read as absent. */
export class TtlMap<K, V> {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();
  #lastSweep: number;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#lastSweep = now();
  }

  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Store `value`; returns its expiry (epoch ms). */
  set(key: K, value: V): number {
    const now = this.#now();
    if (now - this.#lastSweep >= SWEEP_EVERY_MS) this.#sweep(now);
    const expiresAt = now + this.#ttlMs;
    this.#entries.delete(key); // re-inserted last, so the map stays in expiry order
    this.#entries.set(key, { value, expiresAt });
    return expiresAt;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    // Insertion order is expiry order (one TTL for all), so stop at the first live entry.
    for (const [key, e] of this.#entries) {
      if (e.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}
