/**
 * How a grant's settlement moves units, pool by pool: for each resource,
 * unused units go back to the pools they came from, borrowed ones first (the
 * reverse of draw order, so lent capacity returns to its owner soonest);
 * overuse is debited from the first pool the grant drew from, or the
 * resource's first pool if it drew from none. Pure: the local ledger and the
 * Durable Object limiter apply the same moves (settle.lua does the same in
 * Redis).
 */
import { resourceOfKey } from '../core/pools.ts';
import type { Amounts } from './limiter.ts';

export interface Move {
  readonly key: string;
  readonly kind: 'give' | 'debit';
  readonly amount: number;
}

/**
 * @param taken what the grant took, by pool key, in draw order
 * @param used what it used, by resource (a resource it took but `used` leaves out counts as 0)
 * @param firstPool a configured resource's first pool key (undefined for an unknown resource)
 */
export function settlementMoves(taken: Amounts, used: Amounts, firstPool: (resource: string) => string | undefined): Move[] {
  const moves: Move[] = [];
  const byResource = new Map<string, [string, number][]>();
  for (const [key, amount] of Object.entries(taken)) {
    const r = resourceOfKey(key);
    byResource.set(r, [...(byResource.get(r) ?? []), [key, amount]]);
  }
  for (const name of Object.keys(used)) if (!byResource.has(name) && firstPool(name) !== undefined) byResource.set(name, []);
  for (const [name, parts] of byResource) {
    const total = parts.reduce((a, [, v]) => a + v, 0);
    const u = used[name] ?? 0;
    if (u <= total) {
      let back = total - u;
      for (const [key, amount] of parts.toReversed()) {
        if (back <= 0) break;
        const give = Math.min(back, amount);
        moves.push({ key, kind: 'give', amount: give });
        back -= give;
      }
    } else {
      const key = parts[0]?.[0] ?? firstPool(name);
      if (key) moves.push({ key, kind: 'debit', amount: u - total });
    }
  }
  return moves;
}
