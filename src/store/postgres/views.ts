/**
 * Reads of requests: single lookups, lists and aggregates. They run on the
 * pool, outside any transaction, and see what is committed. Counts are
 * queried every time: other instances write too, so no count can be kept in
 * memory here.
 */
import { STATES, type State } from '../../core/states.ts';
import type { Overuse, WorkRequest } from '../../model.ts';
import type { RequestFilter, SystemCounts, UsageRow } from '../store.ts';
import { one, type PgCtx, type Val } from './context.ts';
import { toRequestRow } from './rows.ts';

const zeroCounts = (): Record<State, number> => Object.fromEntries(Object.values(STATES).map((s) => [s, 0])) as Record<State, number>;

async function first(c: PgCtx, sql: string, params: readonly Val[]): Promise<WorkRequest | null> {
  const r = await one(c, sql, params);
  return r ? toRequestRow(r) : null;
}

export function getRequest(c: PgCtx, id: string): Promise<WorkRequest | null> {
  return first(c, 'SELECT * FROM requests WHERE id = $1', [id]);
}

export async function getRequestState(c: PgCtx, id: string): Promise<State | null> {
  const r = await one(c, 'SELECT state FROM requests WHERE id = $1', [id]);
  return r ? (r.state as State) : null;
}

export function findByIdempotencyKey(c: PgCtx, clientId: string, key: string): Promise<WorkRequest | null> {
  return first(c, 'SELECT * FROM requests WHERE client_id = $1 AND idempotency_key = $2', [clientId, key]);
}

export function findByExternalId(c: PgCtx, externalId: string): Promise<WorkRequest | null> {
  return first(c, 'SELECT * FROM requests WHERE external_id = $1', [externalId]);
}

export function findShadowCopy(c: PgCtx, primaryId: string): Promise<WorkRequest | null> {
  return first(c, 'SELECT * FROM requests WHERE shadow_of = $1 ORDER BY created_at LIMIT 1', [primaryId]);
}

/** Newest first; `before` pages by (created_at, id), ties included. */
export async function listRequests(c: PgCtx, f: RequestFilter): Promise<WorkRequest[]> {
  const where: string[] = [];
  const args: Val[] = [];
  const add = (cond: (p: string) => string, v: Val): void => {
    args.push(v);
    where.push(cond(`$${args.length}`));
  };
  if (f.clientId) add((p) => `client_id = ${p}`, f.clientId);
  if (f.template) add((p) => `template = ${p}`, f.template);
  if (f.states?.length) add((p) => `state = ANY(${p}::text[])`, f.states);
  if (!f.includeShadow) where.push('shadow_of IS NULL');
  if (f.before) add((p) => `(created_at, id) < (SELECT created_at, id FROM requests WHERE id = ${p})`, f.before);
  args.push(Math.min(f.limit ?? 100, 10_000));
  const sql = `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${args.length}`;
  return (await c.q(sql, args)).map(toRequestRow);
}

export async function loadQueued(c: PgCtx): Promise<WorkRequest[]> {
  return (await c.q("SELECT * FROM requests WHERE state IN ('PENDING', 'WAITING_RETRY') AND system = 'allot' ORDER BY created_at")).map(toRequestRow);
}

export async function countByState(c: PgCtx): Promise<Record<State, number>> {
  const out = zeroCounts();
  for (const r of await c.q('SELECT state, COUNT(*) AS n FROM requests GROUP BY state')) out[r.state as State] = Number(r.n);
  return out;
}

export async function usageByTemplate(c: PgCtx, clientId: string, period: string | null): Promise<UsageRow[]> {
  const rows = await c.q(`SELECT template, COUNT(*) AS requests,
      COUNT(*) FILTER (WHERE state = 'COMPLETED') AS completed, COUNT(*) FILTER (WHERE state = 'FAILED') AS failed,
      SUM(COALESCE((usage::jsonb #>> '{tokens,input}')::numeric, 0)) AS input_tokens,
      SUM(COALESCE((usage::jsonb #>> '{tokens,output}')::numeric, 0)) AS output_tokens,
      SUM(cost_nano) AS cost_nano
    FROM requests WHERE client_id = $1 AND ($2::text IS NULL OR period = $2) GROUP BY template ORDER BY template`, [clientId, period]);
  return rows.map((r) => ({
    template: r.template as string, requests: Number(r.requests), completed: Number(r.completed), failed: Number(r.failed),
    inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens), costNano: Number(r.cost_nano),
  }));
}

export async function listOveruse(c: PgCtx, since: number, limit: number): Promise<{ requestId: string; clientId: string; overuse: Overuse }[]> {
  const rows = await c.q('SELECT id, client_id, overuse FROM requests WHERE overuse IS NOT NULL AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2', [since, limit]);
  return rows.map((r) => ({ requestId: r.id as string, clientId: r.client_id as string, overuse: JSON.parse(r.overuse as string) as Overuse }));
}

export async function countBySystem(c: PgCtx): Promise<SystemCounts> {
  const out = { allot: zeroCounts(), v2: zeroCounts(), shadowCopies: zeroCounts() };
  const rows = await c.q(`SELECT CASE WHEN shadow_of IS NOT NULL THEN 'shadowCopies' ELSE system END AS k, state, COUNT(*) AS n
    FROM requests GROUP BY 1, state`);
  for (const r of rows) {
    const bucket = out[r.k as keyof SystemCounts];
    if (bucket) bucket[r.state as State] = Number(r.n);
  }
  return out;
}

/** Cost of requests that ended since `since`, per `bucketMs` (integer division, as in SQLite). */
export async function costOverTime(c: PgCtx, since: number, bucketMs: number): Promise<{ at: number; costNano: number; requests: number }[]> {
  const rows = await c.q(`SELECT (completed_at / $1::bigint) * $1::bigint AS at, SUM(cost_nano) AS cost, COUNT(*) AS n FROM requests
    WHERE completed_at >= $2 GROUP BY 1 ORDER BY 1`, [Math.max(1, Math.floor(bucketMs)), since]);
  return rows.map((r) => ({ at: Number(r.at), costNano: Number(r.cost), requests: Number(r.n) }));
}
