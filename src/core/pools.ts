/**
 * How a resource's capacity is split into pools (SPEC section 2), and which
 * pools a request may draw from, in what order.
 *
 * - shared: everyone draws from it (what is left after the other pools).
 * - reserved: a guaranteed slice for a tier or a client. While its owner has
 *   no work waiting, others may borrow from it; once the owner has work
 *   waiting, nobody else may take from it, so its refill goes to the owner
 *   first (reclaimed first when its owner needs it).
 * - dedicated: exclusive to one client, never lent.
 *
 * Each pool is its own token bucket with `share` of the resource's capacity
 * and refill, so the pools together never admit more than the resource's
 * capacity plus its refill. A request takes from its own pools first
 * (dedicated, then reserved), then shared, then borrowed ones, and may
 * combine them.
 */
export type PoolKind = 'shared' | 'reserved' | 'dedicated';

export interface PoolDef {
  readonly name: string;
  readonly kind: 'reserved' | 'dedicated';
  /** Owner: a tier (reserved only) or a client. */
  readonly tier?: string | undefined;
  readonly client?: string | undefined;
  /** Fraction (0, 1] of the resource's capacity and refill. */
  readonly share: number;
}

export interface Pool {
  /** Bucket key: the resource name for its shared pool, `resource#name` for the others. */
  readonly key: string;
  readonly resource: string;
  readonly name: string;
  readonly kind: PoolKind;
  readonly tier: string | undefined;
  readonly client: string | undefined;
  readonly capacity: number;
  readonly refillPerS: number;
}

export interface Requester {
  readonly clientId: string;
  readonly tier: string;
}

export const SHARED = 'shared';

export function poolKey(resource: string, name: string): string {
  return name === SHARED ? resource : `${resource}#${name}`;
}

/** The resource of a bucket key. */
export function resourceOfKey(key: string): string {
  const i = key.indexOf('#');
  return i < 0 ? key : key.slice(0, i);
}

/** Split a resource into its pools; the shared pool gets what is left (possibly nothing). */
export function buildPools(resource: string, capacity: number, refillPerS: number, defs: readonly PoolDef[]): Pool[] {
  const used = defs.reduce((a, d) => a + d.share, 0);
  const rest = Math.max(0, 1 - used);
  const pools: Pool[] = defs.map((d) => ({
    key: poolKey(resource, d.name), resource, name: d.name, kind: d.kind, tier: d.kind === 'reserved' ? d.tier : undefined, client: d.client,
    capacity: capacity * d.share, refillPerS: refillPerS * d.share,
  }));
  if (rest > 1e-12 || defs.length === 0) {
    pools.unshift({ key: resource, resource, name: SHARED, kind: 'shared', tier: undefined, client: undefined, capacity: capacity * rest, refillPerS: refillPerS * rest });
  }
  return pools;
}

/** Problems with a resource's pool definitions, each naming its field. */
export function validatePools(defs: readonly PoolDef[], knownTiers: ReadonlySet<string>): string[] {
  const issues: string[] = [];
  const names = new Set<string>();
  let total = 0;
  defs.forEach((d, i) => {
    const at = `pools[${i}]`;
    if (d.name === SHARED) issues.push(`${at}.name: "${SHARED}" is the name of the remainder pool`);
    if (names.has(d.name)) issues.push(`${at}.name: "${d.name}" is used twice`);
    names.add(d.name);
    if (!(d.share > 0 && d.share <= 1)) issues.push(`${at}.share: must be more than 0 and at most 1`);
    total += d.share;
    if (d.kind === 'dedicated') {
      if (!d.client) issues.push(`${at}.client: a dedicated pool belongs to one client`);
      if (d.tier) issues.push(`${at}.tier: a dedicated pool belongs to a client, not a tier`);
    } else if (Boolean(d.tier) === Boolean(d.client)) {
      issues.push(`${at}: a reserved pool names exactly one of tier or client`);
    }
    if (d.tier && !knownTiers.has(d.tier)) issues.push(`${at}.tier: no tier named "${d.tier}"`);
  });
  if (total > 1 + 1e-9) issues.push(`pools: shares add up to ${Number(total.toFixed(6))}, more than 1`);
  return issues;
}

export function owns(p: Pool, who: Requester): boolean {
  return p.client !== undefined ? p.client === who.clientId : p.tier !== undefined && p.tier === who.tier;
}

/**
 * The pools `who` may draw from, in order: its own (dedicated first, then
 * reserved), shared, then reserved pools of others whose owners have no work
 * waiting. Without a requester (a worker's own use), only shared pools.
 */
export function drawOrder(pools: readonly Pool[], who: Requester | undefined, ownerWaiting: (p: Pool) => boolean): readonly Pool[] {
  // Most resources have only their shared pool: no need to sort anything out.
  if (pools.length === 1 && pools[0]?.kind === 'shared') return pools;
  if (!who) return pools.filter((p) => p.kind === 'shared');
  const own = pools.filter((p) => p.kind !== 'shared' && owns(p, who)).toSorted((a, b) => (a.kind === b.kind ? 0 : a.kind === 'dedicated' ? -1 : 1));
  const shared = pools.filter((p) => p.kind === 'shared');
  const borrow = pools.filter((p) => p.kind === 'reserved' && !owns(p, who) && !ownerWaiting(p));
  return [...own, ...shared, ...borrow];
}
