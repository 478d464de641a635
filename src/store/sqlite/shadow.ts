/**
 * Shadow mode (migration from v2): requests whose copy runs on the other
 * system are marked pending until both results are in, then compared; the
 * comparisons are kept for the rollout report.
 */
import type { WorkRequest } from '../../model.ts';
import type { ShadowResult, ShadowSummary } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { toRequest } from './rows.ts';

export const INSERT_PENDING = 'INSERT INTO shadow_pending (request_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING';
export const LIST_PENDING = 'SELECT request_id FROM shadow_pending ORDER BY at, request_id';
export const DELETE_PENDING = 'DELETE FROM shadow_pending WHERE request_id = ?';
export const SELECT_COPY = 'SELECT * FROM requests WHERE shadow_of = ? ORDER BY created_at LIMIT 1';
export const INSERT_RESULT = 'INSERT INTO shadow_results (at, request_id, template, primary_system, differences, allot, v2) VALUES (?, ?, ?, ?, ?, ?, ?)';
export const SELECT_DIFFERENCES = 'SELECT differences FROM shadow_results';

export function beginShadow(c: SqliteCtx, requestId: string, at: number): void {
  c.tx(() => void c.q(INSERT_PENDING).run(requestId, at));
}

export function pendingShadows(c: SqliteCtx): string[] {
  return (c.q(LIST_PENDING).all() as Row[]).map((r) => r.request_id as string);
}

export function dropShadow(c: SqliteCtx, requestId: string): void {
  c.tx(() => void c.q(DELETE_PENDING).run(requestId));
}

/** The copy of a primary request that ran on the other system, if one was made. */
export function findShadowCopy(c: SqliteCtx, primaryId: string): WorkRequest | null {
  const r = c.q(SELECT_COPY).get(primaryId) as Row | undefined;
  return r ? toRequest(r) : null;
}

/** Stores a comparison and ends the request's pending mark, together. */
export function recordShadow(c: SqliteCtx, r: ShadowResult): void {
  c.tx(() => {
    c.q(DELETE_PENDING).run(r.requestId);
    c.q(INSERT_RESULT).run(r.at, r.requestId, r.template, r.primary, JSON.stringify(r.differences), JSON.stringify(r.allot), JSON.stringify(r.v2));
  });
}

/** The listing's SELECT (newest first, after `afterSeq`) and its parameters; the D1 store runs the same. */
export function shadowQuery(f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): { sql: string; args: number[] } {
  return {
    sql: `SELECT * FROM shadow_results WHERE seq > ? ${f.differencesOnly ? "AND differences <> '[]'" : ''} ORDER BY seq DESC LIMIT ?`,
    args: [f.afterSeq ?? 0, Math.min(f.limit ?? 100, 10_000)],
  };
}

export function toShadowResult(r: Row): ShadowResult {
  return {
    seq: Number(r.seq), at: Number(r.at), requestId: r.request_id as string, template: r.template as string, primary: r.primary_system as 'allot' | 'v2',
    differences: JSON.parse(r.differences as string) as string[], allot: JSON.parse(r.allot as string) as ShadowResult['allot'], v2: JSON.parse(r.v2 as string) as ShadowResult['v2'],
  };
}

export function listShadow(c: SqliteCtx, f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): ShadowResult[] {
  const { sql, args } = shadowQuery(f);
  return (c.q(sql).all(...args) as Row[]).map(toShadowResult);
}

/** Comparisons in total, those with differences, and how often each field differed: from SELECT_DIFFERENCES's rows. */
export function summarizeShadow(rows: readonly Row[]): ShadowSummary {
  const byField: Record<string, number> = {};
  let total = 0;
  let withDifferences = 0;
  for (const r of rows) {
    total++;
    const d = JSON.parse(r.differences as string) as string[];
    if (d.length) withDifferences++;
    for (const f of d) byField[f] = (byField[f] ?? 0) + 1;
  }
  return { total, withDifferences, byField };
}

export function shadowSummary(c: SqliteCtx): ShadowSummary {
  return summarizeShadow(c.q(SELECT_DIFFERENCES).all() as Row[]);
}
