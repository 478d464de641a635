/**
 * The one function through which a request changes state. In one atomic
 * operation it reads the row, checks the move against the state machine
 * (core/states.ts) and the caller's fencing token, updates the row, releases
 * the hold and charges the budget, appends the audit
 * row(s) and keeps the per-state counters in step.
 */
import { movableFrom } from '../move-check.ts';
import type { WorkRequest } from '../../model.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { toRequest } from './rows.ts';
import { CURRENT_COLUMNS, type TransitionSpec } from '../transition-spec.ts';

export type { TransitionSpec } from '../transition-spec.ts';

/** What a transition reads before it writes: enough to check, fence, settle and count. */
const SELECT_CURRENT = `SELECT ${CURRENT_COLUMNS} FROM requests WHERE id = ?`;
export const SETTLE_BUDGET = 'UPDATE budgets SET held_nano = MAX(0, held_nano - ?), spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?';

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
