/**
 * Whether needs fit the pools a requester may draw from, and if not how long
 * until they would: the arithmetic the local ledger and the Redis snapshot
 * share (take.lua does the same on the server).
 */
import { drawOrder, type Pool } from '../core/pools.ts';
import { refill, type BucketState } from '../core/token-bucket.ts';
import type { PoolTable } from './pool-table.ts';
import type { Amounts, CheckResult, DrawContext } from './limiter.ts';

/**
 * ms until `amount` can be drawn from `order` (pools' levels summed, debts
 * counting as 0), or null if it can now. Infinity when it exceeds what the
 * pools hold or they never refill. While the clock is behind a pool's last
 * update nothing refills, so that gap is part of the wait.
 */
export function waitToDraw(order: readonly Pool[], stateOf: (p: Pool) => BucketState, amount: number, now: number): number | null {
  let available = 0;
  let rate = 0;
  let room = 0;
  for (const p of order) {
    available += Math.max(0, refill(p, stateOf(p), now).level);
    rate += p.refillPerS;
    room += p.capacity;
  }
  if (available >= amount) return null;
  let waitMs = amount > room + 1e-9 || rate <= 0 ? Infinity : Math.ceil(((amount - available) * 1000) / rate);
  for (const p of order) waitMs = Math.max(waitMs, stateOf(p).updatedAt - now);
  return waitMs;
}

/** Whether all of `needs` fit now; if not, the first short resource (unknown resources and amounts ≤ 0 are skipped). */
export function checkNeeds(table: PoolTable, needs: Amounts, ctx: DrawContext, stateOf: (p: Pool) => BucketState, now: number): CheckResult {
  for (const [name, amount] of Object.entries(needs)) {
    const pools = table.pools(name);
    if (!pools || amount <= 0) continue;
    const waitMs = waitToDraw(drawOrder(pools, ctx.who, ctx.ownerWaiting), stateOf, amount, now);
    if (waitMs !== null) return { ok: false, resource: name, needed: amount, waitMs };
  }
  return { ok: true };
}
