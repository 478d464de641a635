/** Refs: large values a worker stored for later steps to read by id, until they expire. */
import type { StoredRef } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { packJson, unpackJson } from './rows.ts';

export const INSERT_REF = 'INSERT INTO refs (ref_id, request_id, worker, data, size_bytes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)';
export const SELECT_LIVE = 'SELECT * FROM refs WHERE ref_id = ? AND expires_at > ?';
export const DELETE_EXPIRED = 'DELETE FROM refs WHERE expires_at <= ?';

export function putRef(c: SqliteCtx, r: StoredRef): void {
  c.tx(() => {
    c.q(INSERT_REF).run(r.refId, r.requestId, r.worker, packJson(r.value, c.compressMin), r.sizeBytes, r.createdAt, r.expiresAt);
  });
}

/** The ref unless it has expired by `now`. */
export function getRef(c: SqliteCtx, refId: string, now: number): StoredRef | null {
  const r = c.q(SELECT_LIVE).get(refId, now) as Row | undefined;
  return r ? toRef(refId, r) : null;
}

export function toRef(refId: string, r: Row): StoredRef {
  return {
    refId, requestId: (r.request_id as string | null) ?? null, worker: r.worker as string, value: unpackJson(r.data), sizeBytes: Number(r.size_bytes),
    createdAt: Number(r.created_at), expiresAt: Number(r.expires_at),
  };
}

/** Deletes expired refs; returns how many. */
export function sweepRefs(c: SqliteCtx, now: number): number {
  return c.tx(() => Number(c.q(DELETE_EXPIRED).run(now).changes));
}
