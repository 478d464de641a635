/**
 * The audit log: one row per transition, admin change, stage end or
 * resource adjustment. `seq` comes from an identity column: it increases in
 * the order rows are inserted, which is not always the order they commit
 * (several connections, several instances). A read by cursor (`afterSeq`)
 * therefore returns only rows written by transactions older than every one
 * still running, so that no row can commit later behind the cursor. A long
 * writing transaction elsewhere in the database holds the cursor back
 * until it ends.
 */
import type { AuditEntry } from '../../model.ts';
import type { AuditFilter } from '../store.ts';
import { toAudit } from '../sqlite/rows.ts';
import type { PgCtx, Val } from './context.ts';

const INSERT = 'INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)';

export async function writeAudit(c: PgCtx, e: Omit<AuditEntry, 'seq'>): Promise<void> {
  await c.q(INSERT, [e.at, e.requestId, e.clientId, e.kind, e.from, e.to, e.actor, e.data === null ? null : JSON.stringify(e.data)]);
}

/** An admin change, stamped with the wall clock as the SQLite store does. */
export async function writeAdmin(c: PgCtx, actor: string, action: string, data: Record<string, unknown>): Promise<void> {
  await writeAudit(c, { at: Date.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor, data: { action, ...data } });
}

export async function listAudit(c: PgCtx, f: AuditFilter): Promise<AuditEntry[]> {
  const where: string[] = [];
  const args: Val[] = [];
  const add = (cond: (p: string) => string, v: Val): void => {
    args.push(v);
    where.push(cond(`$${args.length}`));
  };
  if (f.requestId) add((p) => `request_id = ${p}`, f.requestId);
  if (f.clientId) add((p) => `client_id = ${p}`, f.clientId);
  if (f.afterSeq !== undefined) {
    add((p) => `seq > ${p}`, f.afterSeq);
    // A cursor stops short of rows whose transaction may still be running (migration 0004).
    where.push('(tx IS NULL OR tx < pg_snapshot_xmin(pg_current_snapshot()))');
  }
  if (f.toState !== undefined) add((p) => `kind = 'transition' AND to_state = ${p}`, f.toState);
  if (f.since !== undefined) add((p) => `at >= ${p}`, f.since);
  if (f.until !== undefined) add((p) => `at < ${p}`, f.until);
  args.push(Math.min(f.limit ?? 1000, 100_000));
  const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT $${args.length}`;
  return (await c.q(sql, args)).map(toAudit);
}
