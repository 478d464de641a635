/**
 * Alerts: at most one open alert per (kind, subject); firing again while open
 * returns the open one, and updates and resolving act only on open alerts.
 */
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import type { Row, SqliteCtx, Val } from './context.ts';

export const LIST_OPEN = 'SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id';
export const SELECT_OPEN = 'SELECT * FROM alerts WHERE kind = ? AND subject = ? AND resolved_at IS NULL';
export const INSERT_ALERT = 'INSERT INTO alerts (kind, subject, severity, message, value, fired_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *';
export const UPDATE_OPEN = 'UPDATE alerts SET severity = ?, message = ?, value = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL RETURNING *';
export const RESOLVE_OPEN = 'UPDATE alerts SET resolved_at = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL RETURNING *';

export function openAlerts(c: SqliteCtx): AlertRecord[] {
  return (c.q(LIST_OPEN).all() as Row[]).map(toAlert);
}

/** Opens an alert for the condition, or returns the one already open for its kind and subject. */
export function fireAlert(c: SqliteCtx, a: AlertCondition, at: number): AlertRecord {
  return c.tx(() => {
    const open = c.q(SELECT_OPEN).get(a.kind, a.subject) as Row | undefined;
    if (open) return toAlert(open);
    const r = c.q(INSERT_ALERT).get(a.kind, a.subject, a.severity, a.message, a.value, at, at) as Row;
    return toAlert(r);
  });
}

/** Null when the alert is not open (resolved, or no such id). */
export function updateAlert(c: SqliteCtx, id: number, a: AlertCondition, at: number): AlertRecord | null {
  return c.tx(() => {
    const r = c.q(UPDATE_OPEN).get(a.severity, a.message, a.value, at, id) as Row | undefined;
    return r ? toAlert(r) : null;
  });
}

/** Null when the alert is not open (resolved, or no such id). */
export function resolveAlert(c: SqliteCtx, id: number, at: number): AlertRecord | null {
  return c.tx(() => {
    const r = c.q(RESOLVE_OPEN).get(at, at, id) as Row | undefined;
    return r ? toAlert(r) : null;
  });
}

export function listAlerts(
  c: SqliteCtx,
  f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined },
): AlertRecord[] {
  const { sql, args } = alertsQuery(f);
  return (c.q(sql).all(...args) as Row[]).map(toAlert);
}

/** The listing's SELECT and parameters (the D1 store runs the same). */
export function alertsQuery(f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): { sql: string; args: Val[] } {
  const where: string[] = [];
  const args: Val[] = [];
  if (f.state === 'firing') where.push('resolved_at IS NULL');
  if (f.state === 'resolved') where.push('resolved_at IS NOT NULL');
  if (f.before !== undefined) {
    where.push('id < ?');
    args.push(f.before);
  }
  args.push(Math.min(f.limit ?? 100, 10_000));
  return { sql: `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, args };
}

export function toAlert(r: Row): AlertRecord {
  return {
    id: Number(r.id), kind: r.kind as AlertRecord['kind'], subject: r.subject as string, severity: r.severity as AlertRecord['severity'], message: r.message as string,
    value: Number(r.value), firedAt: Number(r.fired_at), updatedAt: Number(r.updated_at), resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
  };
}
