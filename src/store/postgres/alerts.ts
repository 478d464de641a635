/**
 * Alerts with firing/resolved state. At most one alert per condition and
 * subject is open (the partial unique index alerts_open): firing one that is
 * open already returns the open one, also when two instances fire it at once.
 */
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import { one, type PgCtx, type Row, type Val } from './context.ts';

function toAlert(r: Row): AlertRecord {
  return {
    id: Number(r.id), kind: r.kind as AlertRecord['kind'], subject: r.subject as string, severity: r.severity as AlertRecord['severity'], message: r.message as string,
    value: Number(r.value), firedAt: Number(r.fired_at), updatedAt: Number(r.updated_at), resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
  };
}

const OPEN = 'SELECT * FROM alerts WHERE kind = $1 AND subject = $2 AND resolved_at IS NULL';

export async function openAlerts(c: PgCtx): Promise<AlertRecord[]> {
  return (await c.q('SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id')).map(toAlert);
}

export async function fireAlert(c: PgCtx, a: AlertCondition, at: number): Promise<AlertRecord> {
  const open = await one(c, OPEN, [a.kind, a.subject]);
  if (open) return toAlert(open);
  const r = await one(c, `INSERT INTO alerts (kind, subject, severity, message, value, fired_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (kind, subject) WHERE resolved_at IS NULL DO NOTHING RETURNING *`, [a.kind, a.subject, a.severity, a.message, a.value, at, at]);
  // Fired by another instance in the meantime: its open alert is the one.
  return toAlert(r ?? ((await one(c, OPEN, [a.kind, a.subject])) as Row));
}

export async function updateAlert(c: PgCtx, id: number, a: AlertCondition, at: number): Promise<AlertRecord | null> {
  const r = await one(c, 'UPDATE alerts SET severity = $1, message = $2, value = $3, updated_at = $4 WHERE id = $5 AND resolved_at IS NULL RETURNING *', [
    a.severity, a.message, a.value, at, id,
  ]);
  return r ? toAlert(r) : null;
}

export async function resolveAlert(c: PgCtx, id: number, at: number): Promise<AlertRecord | null> {
  const r = await one(c, 'UPDATE alerts SET resolved_at = $1, updated_at = $1 WHERE id = $2 AND resolved_at IS NULL RETURNING *', [at, id]);
  return r ? toAlert(r) : null;
}

export async function listAlerts(c: PgCtx, f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]> {
  const where: string[] = [];
  const args: Val[] = [];
  if (f.state === 'firing') where.push('resolved_at IS NULL');
  if (f.state === 'resolved') where.push('resolved_at IS NOT NULL');
  if (f.before !== undefined) {
    args.push(f.before);
    where.push(`id < $${args.length}`);
  }
  args.push(Math.min(f.limit ?? 100, 10_000));
  return (await c.q(`SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${args.length}`, args)).map(toAlert);
}
