/**
 * Budgets (spent and held nano-USD per client and period).
 *
 * Token-bucket levels are not kept here: in the scale-out mode they live in
 * Redis (src/limiter/redis/), shared by every instance. The `buckets` table
 * the first migration created stays in the schema, unused.
 */
import type { BudgetRow } from '../store.ts';
import { one, type PgCtx } from './context.ts';

export async function getBudget(c: PgCtx, clientId: string, period: string): Promise<BudgetRow> {
  const r = await one(c, 'SELECT spent_nano, held_nano FROM budgets WHERE client_id = $1 AND period = $2', [clientId, period]);
  return { clientId, period, spentNano: Number(r?.spent_nano ?? 0), heldNano: Number(r?.held_nano ?? 0) };
}

export async function listBudgets(c: PgCtx, clientId: string): Promise<BudgetRow[]> {
  return (await c.q('SELECT period, spent_nano, held_nano FROM budgets WHERE client_id = $1 ORDER BY period DESC', [clientId])).map((r) => ({
    clientId, period: r.period as string, spentNano: Number(r.spent_nano), heldNano: Number(r.held_nano),
  }));
}

/** The budget row of a client and period, created (zero) if missing, so that it can be updated. */
export async function ensureBudget(c: PgCtx, clientId: string, period: string): Promise<void> {
  await c.q('INSERT INTO budgets (client_id, period) VALUES ($1, $2) ON CONFLICT DO NOTHING', [clientId, period]);
}
