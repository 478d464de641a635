/**
 * Numbered SQL migrations for SQLite, each applied in its own transaction
 * together with its version row. SQLite has one writer, so the write lock
 * taken by BEGIN IMMEDIATE is the migration lock.
 */
import type { DatabaseSync } from 'node:sqlite';
import { readdirSync, readFileSync } from 'node:fs';
import type { MigrationResult } from '../store.ts';

const DIR = new URL('./migrations/', import.meta.url);

export function migrateSqlite(db: DatabaseSync): MigrationResult[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const files = readdirSync(DIR)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .toSorted();
  const results: MigrationResult[] = [];
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    const name = file.slice(5, -4);
    db.exec('BEGIN IMMEDIATE');
    try {
      const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(version);
      if (done) {
        db.exec('COMMIT');
        results.push({ version, name, status: 'skipped' });
        continue;
      }
      db.exec(readFileSync(new URL(file, DIR), 'utf8'));
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, name, Date.now());
      db.exec('COMMIT');
      results.push({ version, name, status: 'applied' });
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
  return results;
}
