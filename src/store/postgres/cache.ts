/** The result cache: finished outputs by cache key, fresh until they expire. */
import type { CachedResult } from '../store.ts';
import { packJson, unpackJson } from '../sqlite/rows.ts';
import { one, type PgCtx } from './context.ts';
import { writeAdmin } from './audit.ts';
import { payloadColumns, payloadValue } from './rows.ts';

export async function lookupCache(c: PgCtx, key: string, now: number): Promise<CachedResult | null> {
  const r = await one(c, 'SELECT * FROM result_cache WHERE key = $1 AND expires_at > $2', [key, now]);
  if (!r) return null;
  return {
    key, template: r.template as string, output: unpackJson(payloadValue(r, 'output')), usage: r.usage ? (JSON.parse(r.usage as string) as CachedResult['usage']) : null,
    sourceRequestId: r.source_request_id as string, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at),
  };
}

/** Keeps a result, replacing an older one under the same key. */
export async function storeCache(c: PgCtx, e: CachedResult): Promise<void> {
  const out = payloadColumns('output', packJson(e.output, c.compressMin));
  await c.q(`INSERT INTO result_cache (key, template, output, output_zstd, usage, source_request_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (key) DO UPDATE SET template = excluded.template, output = excluded.output, output_zstd = excluded.output_zstd, usage = excluded.usage,
    source_request_id = excluded.source_request_id, created_at = excluded.created_at, expires_at = excluded.expires_at`, [
    e.key, e.template, out.output ?? null, out.output_zstd ?? null, e.usage ? JSON.stringify(e.usage) : null, e.sourceRequestId, e.createdAt, e.expiresAt,
  ]);
}

/** Forgets a template's results, and expired ones of any template; how many went. */
export async function purgeCache(c: PgCtx, template: string, now: number, actor: string): Promise<number> {
  const removed = (await c.q('DELETE FROM result_cache WHERE template = $1 OR expires_at <= $2 RETURNING key', [template, now])).length;
  await writeAdmin(c, actor, 'cache:purge', { template, removed });
  return removed;
}
