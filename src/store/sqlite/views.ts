/** Reads of requests: by id or key, lists and filters, and the aggregates /status and the reports show. */
import { STATES, type State } from '../../core/states.ts';
import type { Overuse, WorkRequest } from '../../model.ts';
import type { RequestFilter, SystemCounts, UsageRow } from '../store.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { toRequest } from './rows.ts';

export const BY_ID = 'SELECT * FROM requests WHERE id = ?';
export const STATE_BY_ID = 'SELECT state FROM requests WHERE id = ?';
export const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = ? AND idempotency_key = ?';
export const BY_EXTERNAL_ID = 'SELECT * FROM requests WHERE external_id = ?';
export const QUEUED = "SELECT * FROM requests WHERE state IN ('PENDING', 'WAITING_RETRY') AND system = 'allot' ORDER BY created_at";
export const COUNT_BY_STATE = 'SELECT state, COUNT(*) AS n FROM requests GROUP BY state';
export const USAGE_BY_TEMPLATE = `SELECT template, COUNT(*) AS requests,
        SUM(state = 'COMPLETED') AS completed, SUM(state = 'FAILED') AS failed,
        SUM(COALESCE(json_extract(usage, '$.tokens.input'), 0)) AS input_tokens,
        SUM(COALESCE(json_extract(usage, '$.tokens.output'), 0)) AS output_tokens,
        SUM(cost_nano) AS cost_nano
      FROM requests WHERE client_id = ? AND (? IS NULL OR period = ?) GROUP BY template ORDER BY template`;
export const OVERUSE = 'SELECT id, client_id, overuse FROM requests WHERE overuse IS NOT NULL AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?';
export const COUNT_BY_SYSTEM = `SELECT CASE WHEN shadow_of IS NOT NULL THEN 'shadowCopies' ELSE system END AS k, state, COUNT(*) AS n
      FROM requests GROUP BY k, state`;
export const COST_OVER_TIME = `SELECT (completed_at / CAST(:b AS INTEGER)) * CAST(:b AS INTEGER) AS at, SUM(cost_nano) AS cost, COUNT(*) AS n FROM requests
      WHERE completed_at >= :since GROUP BY at ORDER BY at`;

export function getRequest(c: SqliteCtx, id: string): WorkRequest | null {
  const r = c.q(BY_ID).get(id) as Row | undefined;
  return r ? toRequest(r) : null;
}

export function getRequestState(c: SqliteCtx, id: string): State | null {
  const r = c.q(STATE_BY_ID).get(id) as { state: State } | undefined;
  return r ? r.state : null;
}

export function findByIdempotencyKey(c: SqliteCtx, clientId: string, key: string): WorkRequest | null {
  const r = c.q(BY_IDEMPOTENCY_KEY).get(clientId, key) as Row | undefined;
  return r ? toRequest(r) : null;
}

/** The request made for a v2 execution id (imported or forwarded). */
export function findByExternalId(c: SqliteCtx, externalId: string): WorkRequest | null {
  const r = c.q(BY_EXTERNAL_ID).get(externalId) as Row | undefined;
  return r ? toRequest(r) : null;
}

/** Newest first; `before` is a request id to page from (keyset pagination on created_at, id). */
/** The SELECT for a request filter and its parameters (SQLite's dialect: the SQLite and D1 stores run it). */
export function requestsQuery(f: RequestFilter): { sql: string; args: Val[] } {
  const where: string[] = [];
  const args: Val[] = [];
  if (f.clientId) {
    where.push('client_id = ?');
    args.push(f.clientId);
  }
  if (f.template) {
    where.push('template = ?');
    args.push(f.template);
  }
  if (f.states?.length) {
    where.push(`state IN (${f.states.map(() => '?').join(', ')})`);
    args.push(...f.states);
  }
  if (!f.includeShadow) where.push('shadow_of IS NULL');
  if (f.before) {
    where.push('(created_at, id) < (SELECT created_at, id FROM requests WHERE id = ?)');
    args.push(f.before);
  }
  args.push(Math.min(f.limit ?? 100, 10_000));
  return { sql: `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`, args };
}

export function listRequests(c: SqliteCtx, f: RequestFilter): WorkRequest[] {
  const { sql, args } = requestsQuery(f);
  return (c.q(sql).all(...args) as Row[]).map(toRequest);
}

/** Allot's requests waiting to run (PENDING, WAITING_RETRY), oldest first: the scheduler's queues at start. */
export function loadQueued(c: SqliteCtx): WorkRequest[] {
  return (c.q(QUEUED).all() as Row[]).map(toRequest);
}

/** Requests per state, counted from the table (every state present, zero when none). */
export function countByState(c: SqliteCtx): Record<State, number> {
  const out = Object.fromEntries(Object.values(STATES).map((s) => [s, 0])) as Record<State, number>;
  for (const r of c.q(COUNT_BY_STATE).all() as Row[]) out[r.state as State] = Number(r.n);
  return out;
}

/** A client's requests, tokens and cost per template, in one period or (null) all. */
export function usageByTemplate(c: SqliteCtx, clientId: string, period: string | null): UsageRow[] {
  const rows = c.q(USAGE_BY_TEMPLATE).all(clientId, period, period) as Row[];
  return rows.map((r) => ({
    template: r.template as string, requests: Number(r.requests), completed: Number(r.completed), failed: Number(r.failed),
    inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens), costNano: Number(r.cost_nano),
  }));
}

/** Requests flagged for using more than they were allowed, most recent first. */
export function listOveruse(c: SqliteCtx, since: number, limit: number): { requestId: string; clientId: string; overuse: Overuse }[] {
  return (c.q(OVERUSE).all(since, limit) as Row[]).map(toOveruse);
}

export function toOveruse(r: Row): { requestId: string; clientId: string; overuse: Overuse } {
  return { requestId: r.id as string, clientId: r.client_id as string, overuse: JSON.parse(r.overuse as string) as Overuse };
}

/** Requests per state for Allot's own, v2's, and shadow copies apart. */
export function countBySystem(c: SqliteCtx): SystemCounts {
  return systemCounts(c.q(COUNT_BY_SYSTEM).all() as Row[]);
}

/** COUNT_BY_SYSTEM's rows as counts (every state present, zero when none). */
export function systemCounts(rows: readonly Row[]): SystemCounts {
  const zero = (): Record<State, number> => Object.fromEntries(Object.values(STATES).map((st) => [st, 0])) as Record<State, number>;
  const out = { allot: zero(), v2: zero(), shadowCopies: zero() };
  for (const r of rows) {
    const bucket = out[r.k as keyof SystemCounts];
    if (bucket) bucket[r.state as State] = Number(r.n);
  }
  return out;
}

/** Cost of requests that ended since `since`, per `bucketMs`, oldest first (empty buckets left out). */
export function costOverTime(c: SqliteCtx, since: number, bucketMs: number): { at: number; costNano: number; requests: number }[] {
  const rows = c.q(COST_OVER_TIME).all({ b: Math.max(1, Math.floor(bucketMs)), since }) as Row[];
  return rows.map((r) => ({ at: Number(r.at), costNano: Number(r.cost), requests: Number(r.n) }));
}
