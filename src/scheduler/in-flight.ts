/**
 * Identical cacheable requests in flight at once run once: the first with a
 * cache key leads, later ones follow and are answered from its result. If the
 * leader ends without a result (failed, cancelled), its first follower leads
 * in its place.
 */
export class InFlightDuplicates {
  readonly #leader = new Map<string, string>();
  readonly #followers = new Map<string, string[]>();
  readonly #keyOf = new Map<string, string>();

  /** Register `id` under `key`; true when it must wait for a leader already in flight. */
  follow(id: string, key: string): boolean {
    const leader = this.#leader.get(key);
    this.#keyOf.set(id, key);
    if (leader !== undefined && leader !== id) {
      const f = this.#followers.get(key) ?? [];
      if (!f.includes(id)) f.push(id);
      this.#followers.set(key, f);
      return true;
    }
    this.#leader.set(key, id);
    return false;
  }

  isFollower(id: string): boolean {
    const key = this.#keyOf.get(id);
    return key !== undefined && this.#leader.get(key) !== id;
  }

  /** `id` ended. If it led, returns its key and followers (now on their own). */
  ended(id: string): { key: string; followers: string[] } | undefined {
    const key = this.#keyOf.get(id);
    if (key === undefined) return undefined;
    this.#keyOf.delete(id);
    if (this.#leader.get(key) !== id) {
      const f = this.#followers.get(key);
      if (f) this.#followers.set(key, f.filter((x) => x !== id));
      return undefined;
    }
    this.#leader.delete(key);
    const followers = this.#followers.get(key) ?? [];
    this.#followers.delete(key);
    for (const f of followers) this.#keyOf.delete(f);
    return { key, followers };
  }
}
