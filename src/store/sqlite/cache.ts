/** The result cache: a template's output stored under a key derived from its input, until it expires. */
import type { CachedResult } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAdmin } from './audit.ts';
import { packJson, unpackJson } from './rows.ts';

export const SELECT_LIVE = 'SELECT * FROM result_cache WHERE key = ? AND expires_at > ?';
export const UPSERT = `INSERT INTO result_cache (key, template, output, usage, source_request_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(key) DO UPDATE SET template = excluded.template, output = excluded.output, usage = excluded.usage,
        source_request_id = excluded.source_request_id, created_at = excluded.created_at, expires_at = excluded.expires_at`;
export const PURGE = 'DELETE FROM result_cache WHERE template = ? OR expires_at <= ?';

/** The entry under `key` unless it has expired by `now`. */
export function lookupCache(c: SqliteCtx, key: string, now: number): CachedResult | null {
  const r = c.q(SELECT_LIVE).get(key, now) as Row | undefined;
  return r ? toCached(key, r) : null;
}

export function toCached(key: string, r: Row): CachedResult {
  return {
    key, template: r.template as string, output: unpackJson(r.output), usage: r.usage ? (JSON.parse(r.usage as string) as CachedResult['usage']) : null,
    sourceRequestId: r.source_request_id as string, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at),
  };
}

/** UPSERT's parameters for an entry. */
export function cacheParams(e: CachedResult, compressMin: number): (string | number | null | Uint8Array)[] {
  return [e.key, e.template, packJson(e.output, compressMin), e.usage ? JSON.stringify(e.usage) : null, e.sourceRequestId, e.createdAt, e.expiresAt];
}

export function storeCache(c: SqliteCtx, e: CachedResult): void {
  c.tx(() => {
    c.q(UPSERT).run(...cacheParams(e, c.compressMin));
  });
}

/** Removes a template's entries and every expired one; returns how many, audited as an admin action. */
export function purgeCache(c: SqliteCtx, template: string, now: number, actor: string): number {
  return c.tx(() => {
    const r = c.q(PURGE).run(template, now);
    writeAdmin(c, actor, 'cache:purge', { template, removed: Number(r.changes) });
    return Number(r.changes);
  });
}
