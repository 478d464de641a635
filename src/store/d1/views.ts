/** Read-only views over D1 for the dashboard and operators: overuse, counts per system, cost over time (the SQLite store's SQL). */
import type { Overuse } from '../../model.ts';
import type { SystemCounts } from '../store.ts';
import { COST_OVER_TIME, COUNT_BY_SYSTEM, OVERUSE, systemCounts, toOveruse } from '../sqlite/views.ts';
import type { D1Ctx } from './context.ts';

/** COST_OVER_TIME with D1's numbered parameters (it has no named ones). */
const COST = COST_OVER_TIME.replaceAll(':b', '?1').replaceAll(':since', '?2');

export async function listOveruse(c: D1Ctx, since: number, limit: number): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
  return (await c.all(OVERUSE, since, limit)).map(toOveruse);
}

export async function countBySystem(c: D1Ctx): Promise<SystemCounts> {
  return systemCounts(await c.all(COUNT_BY_SYSTEM));
}

export async function costOverTime(c: D1Ctx, since: number, bucketMs: number): Promise<{ at: number; costNano: number; requests: number }[]> {
  return (await c.all(COST, Math.max(1, Math.floor(bucketMs)), since)).map((r) => ({ at: Number(r.at), costNano: Number(r.cost), requests: Number(r.n) }));
}
