/**
 * Budgets (spent and held, per client and period; request transitions write
 * them, the functions here read them) and the token buckets' levels, which
 * the LocalLimiter keeps here through its levels port (SqliteStore.bucketLevels).
 */
import type { BucketState } from '../../core/token-bucket.ts';
import type { BucketWrites, LevelsAudit } from '../../limiter/local-limiter.ts';
import type { BudgetRow } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAudit } from './audit.ts';

export const UPSERT_BUCKET = 'INSERT INTO buckets (resource, level, updated_at) VALUES (?, ?, ?) ON CONFLICT(resource) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at';
export const SELECT_BUCKETS = 'SELECT resource, level, updated_at FROM buckets';
export const SELECT_BUDGET = 'SELECT spent_nano, held_nano FROM budgets WHERE client_id = ? AND period = ?';
export const LIST_BUDGETS = 'SELECT * FROM budgets WHERE client_id = ? ORDER BY period DESC';

/** Saves bucket levels; the caller's transaction holds them. */
function writeBuckets(c: SqliteCtx, buckets: BucketWrites): void {
  const st = c.q(UPSERT_BUCKET);
  for (const [name, b] of buckets) st.run(name, b.level, b.updatedAt);
}

/**
 * The LocalLimiter's levels (src/limiter/local-limiter.ts `LevelsPort`),
 * written in the open group commit, at the call: they are committed with the
 * store writes made in the same stretch of JavaScript, and `durable()`
 * covers them. An operator's change (`audit`) leaves a row of kind 'resource'.
 */
export function writeLevels(c: SqliteCtx, levels: BucketWrites, audit?: LevelsAudit): void {
  c.tx(() => {
    writeBuckets(c, levels);
    if (audit) writeAudit(c, { at: audit.at, requestId: null, clientId: null, kind: 'resource', from: null, to: null, actor: 'limiter', data: { action: audit.action, ...audit.data } });
  });
}

export function loadBuckets(c: SqliteCtx): Map<string, BucketState> {
  const m = new Map<string, BucketState>();
  for (const r of c.q(SELECT_BUCKETS).all() as Row[]) {
    m.set(r.resource as string, { level: Number(r.level), updatedAt: Number(r.updated_at) });
  }
  return m;
}

/** A client's budget for a period; zeros when nothing was held or spent in it yet. */
export function getBudget(c: SqliteCtx, clientId: string, period: string): BudgetRow {
  const r = c.q(SELECT_BUDGET).get(clientId, period) as Row | undefined;
  return { clientId, period, spentNano: Number(r?.spent_nano ?? 0), heldNano: Number(r?.held_nano ?? 0) };
}

export function listBudgets(c: SqliteCtx, clientId: string): BudgetRow[] {
  return (c.q(LIST_BUDGETS).all(clientId) as Row[]).map((r) => ({
    clientId, period: r.period as string, spentNano: Number(r.spent_nano), heldNano: Number(r.held_nano),
  }));
}
