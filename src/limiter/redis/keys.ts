/**
 * The Redis keys of the limiter, all under one prefix and one hash tag
 * (`{limiter}`), so that a Redis Cluster keeps them in one slot, as a Lua
 * script that touches several of them requires. Redis Cluster hashes the
 * first `{...}` of a key: a prefix with a tag of its own (`allot:{prod}:`)
 * puts the keys in that tag's slot instead.
 *
 *   <prefix>{limiter}:epoch        marker written at the first start (string)
 *   <prefix>{limiter}:clock        latest server time a script used, ms
 *   <prefix>{limiter}:pool:<key>   a pool's bucket (hash l, t)
 *   <prefix>{limiter}:grant:<id>   a live grant (hash exp, taken)
 *   <prefix>{limiter}:grants       live grant ids scored by expiry (sorted set)
 */

/** @default 'allot:' */
export const DEFAULT_PREFIX = 'allot:';

export interface LimiterKeys {
  /** Scripts build pool and grant keys from it: root + 'pool:' + key, root + 'grant:' + id. */
  readonly root: string;
  readonly epoch: string;
  readonly clock: string;
  readonly grants: string;
  grant(id: string): string;
}

export function limiterKeys(prefix: string = DEFAULT_PREFIX): LimiterKeys {
  const root = `${prefix}{limiter}:`;
  return { root, epoch: `${root}epoch`, clock: `${root}clock`, grants: `${root}grants`, grant: (id) => `${root}grant:${id}` };
}
