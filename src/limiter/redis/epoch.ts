/**
 * How a Redis limiter tells a first start from Redis having lost its data.
 *
 * Both look the same in Redis: no buckets. On the first start ever, buckets
 * start full; after a loss they must start empty, or every instance would
 * be granted a whole capacity at once, a burst past the provider's limit.
 * So the deployment remembers, outside Redis (the Store's settings), the
 * epoch marker it saw: the key configure.lua writes at the first start.
 *
 * - nothing recorded, no marker in Redis: the first start, buckets full;
 * - something recorded, no marker in Redis: Redis lost its data, buckets
 *   empty at the server's time (they refill from there);
 * - a marker in Redis: buckets that exist keep their level; missing ones
 *   start empty unless the configuration just added their pool.
 * While running, every script also checks the marker, and a missing pool
 * bucket always starts empty, so a loss in the middle of a run is safe too.
 */
export interface EpochRecord {
  /** The epoch the deployment last recorded, or null if no Redis limiter ever started for it. */
  load(): Promise<string | null>;
  save(epoch: string): Promise<void>;
}

/** An epoch record in memory (tests; a deployment without a store keeps nothing across restarts). */
export function memoryEpochRecord(initial: string | null = null): EpochRecord & { readonly value: string | null } {
  let value = initial;
  return {
    get value() {
      return value;
    },
    load: async () => value,
    save: async (epoch) => {
      value = epoch;
    },
  };
}
