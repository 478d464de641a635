/**
 * The one function through which a request changes state on D1: it reads
 * the row, checks the move (store/move-check.ts) and the caller's fencing
 * token, then writes one batch whose row update applies only to the row
 * version it read (`rev`, replaced by the update's own) and whose budget and audit
 * rows apply only if the update did. A row another writer changed meanwhile
 * is read and decided again. The specs are the SQLite store's
 * (store/lifecycle-specs.ts).
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import { movableFrom } from '../move-check.ts';
import { toRequest } from '../sqlite/rows.ts';
import { SETTLE_BUDGET } from '../sqlite/transition.ts';
import { CURRENT_COLUMNS, type Row, type TransitionSpec, type Val } from '../transition-spec.ts';
import { auditStmt } from './admin.ts';
import type { D1Ctx, D1Statement } from './context.ts';
import { AT_REV, newRev } from './guard.ts';

const SELECT_CURRENT = `SELECT ${CURRENT_COLUMNS}, template, rev FROM requests WHERE id = ?`;
/** Reads before giving up on a row other writers keep changing (each lost race means another transition applied). */
const MAX_READS = 20;

/** More rows written with the transition, only if it applies: given the row read and the guard's parameters (AT_REV). */
export type AlsoWrite = (row: Row, guard: readonly [string, number]) => D1Statement[];

/**
 * Moves request `id` as `t` says. Null, with nothing written, when there is
 * no such request, it is not in one of `t.from`, or `t.token` is stale.
 */
/** @param decidedAt the row version the caller decided on (the reaper): if the row has changed since, nothing is written */
export async function transition(c: D1Ctx, id: string, t: TransitionSpec, also?: AlsoWrite, decidedAt?: number): Promise<WorkRequest | null> {
  for (let read = 0; read < MAX_READS; read++) {
    const row = await c.first(SELECT_CURRENT, id);
    if (!row) return null;
    if (decidedAt !== undefined && Number(row.rev) !== decidedAt) return null;
    const from = movableFrom(row, t);
    if (from === null) return null;
    const rev = Number(row.rev);
    const next = newRev();
    const guard = [id, next] as const;
    const set: Record<string, Val> = { ...(typeof t.set === 'function' ? t.set(row) : t.set), state: t.to, updated_at: t.now };
    const cols = Object.keys(set);
    const stmts: D1Statement[] = [
      c.stmt(`UPDATE requests SET ${cols.map((col) => `${col} = ?`).join(', ')}, rev = ? WHERE id = ? AND rev = ? RETURNING *`, ...cols.map((col) => set[col] as Val), next, id, rev),
    ];
    const release = t.releaseHold ? Number(row.hold_nano) : 0;
    const charge = t.chargeNano ?? 0;
    if (release !== 0 || charge !== 0) stmts.push(c.stmt(`${SETTLE_BUDGET} AND ${AT_REV}`, release, charge, row.client_id as string, row.period as string, ...guard));
    const clientId = row.client_id as string;
    const audits = [
      ...(t.via ? [{ from, to: t.via.state, actor: t.via.actor, data: t.via.data ?? null }] : []),
      { from: t.via ? t.via.state : from, to: t.to, actor: t.actor, data: (typeof t.data === 'function' ? t.data(row) : t.data) ?? null },
    ];
    for (const a of audits) stmts.push(auditStmt(c, { at: t.now, requestId: id, clientId, kind: 'transition', ...a }, AT_REV, guard));
    if (also) stmts.push(...also(row, guard));
    const [updated] = await c.batch(stmts);
    const r = updated?.results[0];
    if (r) return toRequest(r);
  }
  throw new AllotError('INTERNAL_ERROR', `Request ${id} kept changing under ${MAX_READS} attempts to move it to ${t.to}`);
}
