/** Payloads passed by reference: readable by one worker until they expire; compressed like other payloads. */
import type { StoredRef } from '../store.ts';
import { packJson, unpackJson } from '../sqlite/rows.ts';
import { one, type PgCtx } from './context.ts';
import { payloadColumns, payloadValue } from './rows.ts';

export async function putRef(c: PgCtx, r: StoredRef): Promise<void> {
  const data = payloadColumns('data', packJson(r.value, c.compressMin));
  await c.q('INSERT INTO refs (ref_id, request_id, worker, data, data_zstd, size_bytes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
    r.refId, r.requestId, r.worker, data.data ?? null, data.data_zstd ?? null, r.sizeBytes, r.createdAt, r.expiresAt,
  ]);
}

export async function getRef(c: PgCtx, refId: string, now: number): Promise<StoredRef | null> {
  const r = await one(c, 'SELECT * FROM refs WHERE ref_id = $1 AND expires_at > $2', [refId, now]);
  if (!r) return null;
  return {
    refId, requestId: (r.request_id as string | null) ?? null, worker: r.worker as string, value: unpackJson(payloadValue(r, 'data')), sizeBytes: Number(r.size_bytes),
    createdAt: Number(r.created_at), expiresAt: Number(r.expires_at),
  };
}

/** Deletes expired references; how many. */
export async function sweepRefs(c: PgCtx, now: number): Promise<number> {
  return (await c.q('DELETE FROM refs WHERE expires_at <= $1 RETURNING ref_id', [now])).length;
}
