/**
 * The audit log: every transition, admin action and resource adjustment
 * leaves one row, written in the same transaction as the change it records.
 */
import type { AuditEntry } from '../../model.ts';
import type { AuditFilter } from '../store.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { toAudit } from './rows.ts';

const INSERT_AUDIT = 'INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

/** Appends one entry; the caller's transaction (if any) holds it. */
export function writeAudit(c: SqliteCtx, e: Omit<AuditEntry, 'seq'>): void {
  c.q(INSERT_AUDIT).run(e.at, e.requestId, e.clientId, e.kind, e.from, e.to, e.actor, e.data === null ? null : JSON.stringify(e.data));
}

/** An operator's change to configuration (clients, workers, settings…), stamped now. */
export function writeAdmin(c: SqliteCtx, actor: string, action: string, data: Record<string, unknown>): void {
  writeAudit(c, { at: Date.now(), requestId: null, clientId: null, kind: 'admin', from: null, to: null, actor, data: { action, ...data } });
}

export function listAudit(c: SqliteCtx, f: AuditFilter): AuditEntry[] {
  const where: string[] = [];
  const args: Val[] = [];
  if (f.requestId) {
    where.push('request_id = ?');
    args.push(f.requestId);
  }
  if (f.clientId) {
    where.push('client_id = ?');
    args.push(f.clientId);
  }
  if (f.afterSeq !== undefined) {
    where.push('seq > ?');
    args.push(f.afterSeq);
  }
  if (f.toState !== undefined) {
    where.push("kind = 'transition' AND to_state = ?");
    args.push(f.toState);
  }
  if (f.since !== undefined) {
    where.push('at >= ?');
    args.push(f.since);
  }
  if (f.until !== undefined) {
    where.push('at < ?');
    args.push(f.until);
  }
  const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
  return (c.q(sql).all(...args, Math.min(f.limit ?? 1000, 100_000)) as Row[]).map(toAudit);
}
