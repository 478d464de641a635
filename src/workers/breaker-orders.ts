/**
 * Operators' breaker orders (POST /admin/workers/{name}/breaker), kept as
 * one setting per worker so that every instance sharing the store, and the
 * next start, applies them. Each instance keeps its own breakers
 * (src/workers/health.ts); an order reaches the others when they re-read
 * what admins change (the cluster relay's `registry` message, and every
 * resync as a backstop), and each applies an order once, by its time.
 */
import type { Store } from '../store/store.ts';
import type { BreakerOrder, WorkerHealth } from './health.ts';

const key = (worker: string): string => `breaker:${worker}`;

/**
 * Keep a new order (audited as a setting change by `actor`) and return it.
 * Its time is `now`, or just after the kept order's when that is later (a
 * clock behind the instance that gave the last one), so that every instance
 * takes it as the newer one.
 */
export async function saveBreakerOrder(
  store: Pick<Store, 'getSetting' | 'putSetting'>, worker: string, o: { state: BreakerOrder['state']; reason?: string | undefined }, now: number, actor: string,
): Promise<BreakerOrder> {
  const prev = parse(await store.getSetting(key(worker)));
  const order: BreakerOrder = { state: o.state, at: Math.max(now, (prev?.at ?? 0) + 1), ...(o.reason === undefined ? {} : { reason: o.reason }) };
  await store.putSetting(key(worker), JSON.stringify(order), actor);
  return order;
}

/** Forget a deleted worker's order, so that a new worker by that name starts closed. */
export async function dropBreakerOrder(store: Pick<Store, 'getSetting' | 'putSetting'>, worker: string, actor: string): Promise<void> {
  if ((await store.getSetting(key(worker))) !== null) await store.putSetting(key(worker), null, actor);
}

function parse(raw: string | null): BreakerOrder | null {
  if (raw === null) return null;
  try {
    const o = JSON.parse(raw) as Partial<BreakerOrder>;
    if ((o.state === 'open' || o.state === 'closed') && typeof o.at === 'number') return { state: o.state, at: o.at, reason: typeof o.reason === 'string' ? o.reason : undefined };
  } catch {
    // A setting someone wrote by hand: no order.
  }
  return null;
}

/**
 * Apply every kept order newer than the one this instance applied last;
 * where none is kept (the worker was deleted, and perhaps made again),
 * drop what this instance held.
 */
export async function applyBreakerOrders(store: Pick<Store, 'getSetting'>, health: WorkerHealth, workers: readonly string[]): Promise<void> {
  for (const name of workers) {
    const o = parse(await store.getSetting(key(name)));
    if (o) health.order(name, o);
    else health.dropOrder(name);
  }
}
