/**
 * Every configured resource split into its pools (src/core/pools.ts), by
 * resource and by bucket key. Both limiters and the Redis snapshot look pools
 * up here; the bucket levels live elsewhere.
 */
import { buildPools, type Pool } from '../core/pools.ts';
import type { LimitedResource } from './limiter.ts';

export class PoolTable {
  readonly #pools = new Map<string, readonly Pool[]>();
  readonly #byKey = new Map<string, Pool>();

  constructor(resources: Iterable<LimitedResource> = []) {
    for (const r of resources) this.set(r);
  }

  /** Replace a resource's pools; returns the new ones. */
  set(r: LimitedResource): readonly Pool[] {
    this.delete(r.name);
    const pools = buildPools(r.name, r.capacity, r.refillPerS, r.pools ?? []);
    this.#pools.set(r.name, pools);
    for (const p of pools) this.#byKey.set(p.key, p);
    return pools;
  }

  delete(resource: string): void {
    for (const p of this.#pools.get(resource) ?? []) this.#byKey.delete(p.key);
    this.#pools.delete(resource);
  }

  /** A resource's pools in configuration order (the shared pool first when there is one). */
  pools(resource: string): readonly Pool[] | undefined {
    return this.#pools.get(resource);
  }

  byKey(key: string): Pool | undefined {
    return this.#byKey.get(key);
  }

  resources(): IterableIterator<[string, readonly Pool[]]> {
    return this.#pools.entries();
  }

  /** Whether a resource is split into more than its shared pool. */
  hasPools(resource: string): boolean {
    const pools = this.#pools.get(resource);
    return pools !== undefined && (pools.length > 1 || pools[0]?.kind !== 'shared');
  }
}
