/**
 * The one function through which a request changes state. In the caller's
 * transaction it locks the request row (SELECT … FOR UPDATE), checks the move
 * against the state machine (core/states.ts) and the caller's fencing token,
 * updates the row, releases the hold and charges the budget, and appends
 * the audit row(s).
 *
 * The row lock is what makes this safe with several processes: a second
 * transition of the same request waits for the first to commit and then
 * reads the row as the first left it (READ COMMITTED re-reads a locked row
 * once its lock is released), so a claim that lost the race sees PREPARING,
 * and a holder whose lease was taken sees a newer token; both get null.
 *
 * Locks are taken in one order everywhere (request row, then its budget row),
 * so transitions cannot deadlock one another.
 */
import { assertTransition, type State } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import { one, type PgCtx, type Row, type Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { settleBudget } from './budgets.ts';
import { toRequestRow } from './rows.ts';

/** What a transition reads before it writes: enough to check, fence, settle and count. */
const SELECT_CURRENT = 'SELECT state, lease_token, client_id, period, hold_nano, attempts, started_at, usage, cost_nano FROM requests WHERE id = $1 FOR UPDATE';

export interface TransitionSpec {
  readonly from: readonly State[];
  readonly to: State;
  /**
   * Pass through this state on the way to `to` in the same write: both steps
   * are checked and audited (`via.data` for the first), one row update is made.
   */
  readonly via?: { readonly state: State; readonly actor: string; readonly data?: Record<string, unknown> } | undefined;
  /** Fencing token the caller holds; null for operator actions (cancel) and the reaper. */
  readonly token: number | null;
  readonly now: number;
  /** Columns to set; a function receives the current row (see SELECT_CURRENT). */
  readonly set?: Readonly<Record<string, Val>> | ((cur: Row) => Readonly<Record<string, Val>>);
  /** Release the request's hold (terminal states). */
  readonly releaseHold?: boolean;
  readonly chargeNano?: number;
  readonly actor: string;
  readonly data?: Record<string, unknown> | ((cur: Row) => Record<string, unknown>) | undefined;
}

/**
 * Moves request `id` as `t` says. Null, with nothing written, when there is
 * no such request, it is not in one of `t.from`, or `t.token` is stale.
 */
export async function transition(c: PgCtx, id: string, t: TransitionSpec): Promise<WorkRequest | null> {
  const row = await one(c, SELECT_CURRENT, [id]);
  if (!row) return null;
  const from = row.state as State;
  if (!t.from.includes(from)) return null;
  if (t.token !== null && Number(row.lease_token) !== t.token) return null;
  if (t.via) {
    assertTransition(from, t.via.state);
    assertTransition(t.via.state, t.to);
  } else assertTransition(from, t.to);
  const set: Record<string, Val> = { ...(typeof t.set === 'function' ? t.set(row) : t.set), state: t.to, updated_at: t.now };
  const cols = Object.keys(set);
  const updated = await one(c, `UPDATE requests SET ${cols.map((col, i) => `${col} = $${i + 1}`).join(', ')} WHERE id = $${cols.length + 1} RETURNING *`, [
    ...cols.map((col) => set[col] as Val),
    id,
  ]);
  const clientId = row.client_id as string;
  const release = t.releaseHold ? Number(row.hold_nano) : 0;
  const charge = t.chargeNano ?? 0;
  if (release !== 0 || charge !== 0) await settleBudget(c, clientId, row.period as string, release, charge);
  if (t.via) await writeAudit(c, { at: t.now, requestId: id, clientId, kind: 'transition', from, to: t.via.state, actor: t.via.actor, data: t.via.data ?? null });
  await writeAudit(c, {
    at: t.now, requestId: id, clientId, kind: 'transition', from: t.via ? t.via.state : from, to: t.to, actor: t.actor,
    data: (typeof t.data === 'function' ? t.data(row) : t.data) ?? null,
  });
  return toRequestRow(updated as Row);
}
