/**
 * Numbered SQL migrations for PostgreSQL, each applied in its own
 * transaction together with its version row.
 *
 * Several instances may start at once on one database: the whole run holds a
 * session advisory lock, on one connection, whose id is derived from the
 * schema name. The first instance applies what is missing; the others wait
 * for it, then find every version recorded and skip them. Different schemas
 * (tests, tenants) migrate independently.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { escapeIdentifier, type PoolClient } from 'pg';
import type { MigrationResult } from '../store.ts';

const DIR = new URL('./migrations/', import.meta.url);

/** A signed 64-bit advisory lock id for migrating `schema` (as a decimal string: pg has no 64-bit JS number). */
export function migrationLockId(schema: string): string {
  return createHash('sha256').update(`allot:migrate:${schema}`).digest().readBigInt64BE(0).toString();
}

/**
 * Applies the migrations not yet recorded in `schema_migrations` of the
 * connection's schema (`schema`, created if missing; null: the search_path's).
 */
export async function migratePg(client: PoolClient, schema: string | null): Promise<MigrationResult[]> {
  const lock = migrationLockId(schema ?? 'public');
  await client.query('SELECT pg_advisory_lock($1::bigint)', [lock]);
  try {
    if (schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(schema)}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const files = readdirSync(DIR)
      .filter((f) => /^\d{4}_.+\.sql$/.test(f))
      .toSorted();
    const results: MigrationResult[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      const name = file.slice(5, -4);
      await client.query('BEGIN');
      try {
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [version]);
        if (done.rowCount) {
          await client.query('COMMIT');
          results.push({ version, name, status: 'skipped' });
          continue;
        }
        await client.query(readFileSync(new URL(file, DIR), 'utf8'));
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [version, name, Date.now()]);
        await client.query('COMMIT');
        results.push({ version, name, status: 'applied' });
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return results;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [lock]);
  }
}
