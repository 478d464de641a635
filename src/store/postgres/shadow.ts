/** Shadow mode: comparisons under way (kept across restarts) and their recorded results. */
import type { ShadowResult, ShadowSummary } from '../store.ts';
import type { PgCtx } from './context.ts';

export async function beginShadow(c: PgCtx, requestId: string, at: number): Promise<void> {
  await c.q('INSERT INTO shadow_pending (request_id, at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [requestId, at]);
}

export async function pendingShadows(c: PgCtx): Promise<string[]> {
  return (await c.q('SELECT request_id FROM shadow_pending ORDER BY at, request_id')).map((r) => r.request_id as string);
}

export async function dropShadow(c: PgCtx, requestId: string): Promise<void> {
  await c.q('DELETE FROM shadow_pending WHERE request_id = $1', [requestId]);
}

/** Records a comparison; it is no longer under way. */
export async function recordShadow(c: PgCtx, r: ShadowResult): Promise<void> {
  await dropShadow(c, r.requestId);
  await c.q('INSERT INTO shadow_results (at, request_id, template, primary_system, differences, allot, v2) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
    r.at, r.requestId, r.template, r.primary, JSON.stringify(r.differences), JSON.stringify(r.allot), JSON.stringify(r.v2),
  ]);
}

export async function listShadow(c: PgCtx, f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]> {
  const rows = await c.q(`SELECT * FROM shadow_results WHERE seq > $1 ${f.differencesOnly ? "AND differences <> '[]'" : ''} ORDER BY seq DESC LIMIT $2`, [
    f.afterSeq ?? 0, Math.min(f.limit ?? 100, 10_000),
  ]);
  return rows.map((r) => ({
    seq: Number(r.seq), at: Number(r.at), requestId: r.request_id as string, template: r.template as string, primary: r.primary_system as 'allot' | 'v2',
    differences: JSON.parse(r.differences as string) as string[], allot: JSON.parse(r.allot as string) as ShadowResult['allot'], v2: JSON.parse(r.v2 as string) as ShadowResult['v2'],
  }));
}

export async function shadowSummary(c: PgCtx): Promise<ShadowSummary> {
  const byField: Record<string, number> = {};
  let total = 0;
  let withDifferences = 0;
  for (const r of await c.q('SELECT differences FROM shadow_results')) {
    total++;
    const d = JSON.parse(r.differences as string) as string[];
    if (d.length) withDifferences++;
    for (const f of d) byField[f] = (byField[f] ?? 0) + 1;
  }
  return { total, withDifferences, byField };
}
