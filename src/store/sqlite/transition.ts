/**
 * The one function through which a request changes state. In one atomic
 * operation it reads the row, checks the move against the state machine
 * (core/states.ts) and the caller's fencing token, updates the row, releases
 * the hold and charges the budget, appends the audit
 * row(s) and keeps the per-state counters in step.
 */
import type { State } from '../../core/states.ts';
import { movableFrom } from '../move-check.ts';
import type { WorkRequest } from '../../model.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { toRequest } from './rows.ts';

/** What a transition reads before it writes: enough to check, fence, settle and count. */
const SELECT_CURRENT = 'SELECT state, lease_token, client_id, period, hold_nano, attempts, started_at, usage, cost_nano FROM requests WHERE id = ?';
const SETTLE_BUDGET = 'UPDATE budgets SET held_nano = MAX(0, held_nano - ?), spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?';

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
export function transition(c: SqliteCtx, id: string, t: TransitionSpec): WorkRequest | null {
  return c.tx(() => {
    const row = c.q(SELECT_CURRENT).get(id) as Row | undefined;
    if (!row) return null;
    const from = movableFrom(row, t);
    if (from === null) return null;
    const set: Record<string, Val> = { ...(typeof t.set === 'function' ? t.set(row) : t.set), state: t.to, updated_at: t.now };
    const cols = Object.keys(set);
    const updated = c.q(`UPDATE requests SET ${cols.map((col) => `${col} = ?`).join(', ')} WHERE id = ? RETURNING *`).get(
      ...cols.map((col) => set[col] as Val),
      id,
    ) as Row;
    const release = t.releaseHold ? Number(row.hold_nano) : 0;
    const charge = t.chargeNano ?? 0;
    if (release !== 0 || charge !== 0) {
      c.q(SETTLE_BUDGET).run(release, charge, row.client_id as string, row.period as string);
    }
    const clientId = row.client_id as string;
    if (t.via) writeAudit(c, { at: t.now, requestId: id, clientId, kind: 'transition', from, to: t.via.state, actor: t.via.actor, data: t.via.data ?? null });
    writeAudit(c, {
      at: t.now, requestId: id, clientId, kind: 'transition', from: t.via ? t.via.state : from, to: t.to, actor: t.actor,
      data: (typeof t.data === 'function' ? t.data(row) : t.data) ?? null,
    });
    c.countMove(from, t.to);
    return toRequest(updated);
  });
}
