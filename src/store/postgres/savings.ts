/** The savings ledger: what each optimization saved against running the request as submitted. */
import type { Saving, SavingsRow } from '../store.ts';
import { rawBytes } from '../sqlite/rows.ts';
import type { PgCtx } from './context.ts';
import type { AlsoWrite } from './transition.ts';

const INSERT = 'INSERT INTO savings (at, request_id, client_id, template, strategy, usd_nano, calls, bytes, method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)';

export async function recordSaving(c: PgCtx, v: Saving): Promise<void> {
  await c.q(INSERT, [v.at, v.requestId, v.clientId, v.template, v.strategy, v.usdNano, v.calls, v.bytes, v.method]);
}

/**
 * Compression is the store's own optimization: when it stored a payload
 * compressed (`stored` is a zstd frame), the bytes saved are recorded, by
 * the same statement that stores it (its request row is the CTE `u`).
 */
export function compressionSavingWith(at: number, stored: unknown, what: string): AlsoWrite[] {
  if (!(stored instanceof Uint8Array)) return [];
  const raw = rawBytes(stored);
  return [(p) => `INSERT INTO savings (at, request_id, client_id, template, strategy, usd_nano, calls, bytes, method)
    SELECT ${p(at)}::bigint, u.id, u.client_id, u.template, 'compression', 0, 0, ${p(raw - stored.length)}::bigint, ${p(`${what} stored with zstd: ${raw} → ${stored.length} bytes`)}::text FROM u`];
}

export async function savingsSummary(c: PgCtx, clientId: string, since: number): Promise<SavingsRow[]> {
  const rows = await c.q(`SELECT strategy, template, COUNT(*) AS n, SUM(usd_nano) AS usd, SUM(calls) AS calls, SUM(bytes) AS bytes
    FROM savings WHERE client_id = $1 AND at >= $2 GROUP BY strategy, template ORDER BY strategy, template`, [clientId, since]);
  return rows.map((r) => ({
    strategy: r.strategy as string, template: r.template as string, count: Number(r.n), usdNano: Number(r.usd), calls: Number(r.calls), bytes: Number(r.bytes),
  }));
}
