/**
 * Numbered migrations on D1, each applied in one batch (D1's transaction)
 * that first records its version: of several stores migrating at once, the
 * one whose batch records the version first applies it; the others' batches
 * fail on the version's primary key and change nothing, and they report the
 * migration as skipped. The same version table and names as SQLite's.
 */
import type { MigrationResult } from '../store.ts';
import type { D1Like } from './context.ts';
import type { Migration } from './migrations.ts';
import { splitStatements } from './split.ts';

const CREATE_VERSIONS = 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)';

/** Whether a failed batch failed because the version was recorded meanwhile. */
function lostTheRace(err: unknown): boolean {
  return /UNIQUE constraint failed: schema_migrations\.version|PRIMARY KEY/i.test(String((err as Error)?.message ?? err));
}

export async function migrateD1(db: D1Like, migrations: readonly Migration[], now: () => number = Date.now): Promise<MigrationResult[]> {
  await db.prepare(CREATE_VERSIONS).run();
  const results: MigrationResult[] = [];
  for (const m of [...migrations].toSorted((a, b) => a.version - b.version)) {
    const done = await db.prepare('SELECT 1 AS x FROM schema_migrations WHERE version = ?').bind(m.version).first();
    if (done) {
      results.push({ version: m.version, name: m.name, status: 'skipped' });
      continue;
    }
    try {
      await db.batch([
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').bind(m.version, m.name, now()),
        ...splitStatements(m.sql).map((s) => db.prepare(s)),
      ]);
      results.push({ version: m.version, name: m.name, status: 'applied' });
    } catch (err) {
      if (!lostTheRace(err)) throw err;
      results.push({ version: m.version, name: m.name, status: 'skipped' });
    }
  }
  return results;
}
