/**
 * The audit log: every transition, admin action and resource adjustment
 * leaves one row, written in the same transaction as the change it records.
 */
import type { AuditEntry } from '../../model.ts';
import type { AuditFilter } from '../store.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { toAudit } from './rows.ts';

export const INSERT_AUDIT = 'INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

/** Appends one entry; the caller's transaction (if any) holds it. */
export function writeAudit(c: SqliteCtx, e: Omit<AuditEntry, 'seq'>): void {
  c.q(INSERT_AUDIT).run(e.at, e.requestId, e.clientId, e.kind, e.from, e.to, e.actor, e.data === null ? null : JSON.stringify(e.data));
}

/** An operator's change to configuration (clients, workers, settings…), stamped now. */
export function writeAdmin(c: SqliteCtx, actor: string, action: string, data: Record<string, unknown>): void {
  writeAudit(c, { at: Date.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor, data: { action, ...data } });
}

/** The SELECT for an audit filter and its parameters (SQLite's dialect: the SQLite and D1 stores run it). */
export function auditQuery(f: AuditFilter): { sql: string; args: Val[] } {
  const where: string[] = [];
  const args: Val[] = [];
  const add = (cond: string, v: Val): void => {
    where.push(cond);
    args.push(v);
  };
  if (f.requestId) add('request_id = ?', f.requestId);
  if (f.clientId) add('client_id = ?', f.clientId);
  if (f.afterSeq !== undefined) add('seq > ?', f.afterSeq);
  if (f.toState !== undefined) add("kind = 'transition' AND to_state = ?", f.toState);
  if (f.since !== undefined) add('at >= ?', f.since);
  if (f.until !== undefined) add('at < ?', f.until);
  args.push(Math.min(f.limit ?? 1000, 100_000));
  return { sql: `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`, args };
}

export function listAudit(c: SqliteCtx, f: AuditFilter): AuditEntry[] {
  const { sql, args } = auditQuery(f);
  return (c.q(sql).all(...args) as Row[]).map(toAudit);
}
