/** The savings ledger: what each optimization (cache hits, batching, compression…) saved, per request. */
import type { Saving, SavingsRow } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { rawBytes } from './rows.ts';

export const INSERT_SAVING = 'INSERT INTO savings (at, request_id, client_id, template, strategy, usd_nano, calls, bytes, method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
export const SUMMARY = `SELECT strategy, template, COUNT(*) AS n, SUM(usd_nano) AS usd, SUM(calls) AS calls, SUM(bytes) AS bytes
      FROM savings WHERE client_id = ? AND at >= ? GROUP BY strategy, template ORDER BY strategy, template`;

export function recordSaving(c: SqliteCtx, v: Saving): void {
  c.tx(() => {
    c.q(INSERT_SAVING).run(v.at, v.requestId, v.clientId, v.template, v.strategy, v.usdNano, v.calls, v.bytes, v.method);
  });
}

/**
 * Compression is the store's own optimization: when it stored a payload
 * compressed (`stored` is bytes, not text), it records the bytes saved.
 * Runs inside the caller's transaction.
 */
export function recordCompressionSaving(c: SqliteCtx, requestId: string, clientId: string, template: string, at: number, stored: unknown, what: string): void {
  if (!(stored instanceof Uint8Array)) return;
  const raw = rawBytes(stored);
  c.q(INSERT_SAVING).run(at, requestId, clientId, template, 'compression', 0, 0, raw - stored.length, `${what} stored with zstd: ${raw} → ${stored.length} bytes`);
}

/** A client's savings since `since`, by strategy and template. */
export function savingsSummary(c: SqliteCtx, clientId: string, since: number): SavingsRow[] {
  return (c.q(SUMMARY).all(clientId, since) as Row[]).map(savingsRow);
}

/** A row of SUMMARY (the D1 store reads the same). */
export function savingsRow(r: Row): SavingsRow {
  return { strategy: r.strategy as string, template: r.template as string, count: Number(r.n), usdNano: Number(r.usd), calls: Number(r.calls), bytes: Number(r.bytes) };
}
