/**
 * Running an import against a database file: for real, or as a dry run on a
 * snapshot. The dry run copies Allot's database with SQLite's online backup
 * (from a read-only connection, so a running server's file is only read),
 * runs the very same import on the copy and deletes it: the report is what
 * the import would do, and Allot's own file is never written.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
import type { Resource, Tier } from '../model.ts';
import { Registry } from '../service/registry.ts';
import { Secrets } from '../service/secrets.ts';
import { countTokens } from '../service/tokenizer.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { importV2, type ImportOptions, type ImportReport } from './import.ts';
import type { V2Source } from './v2-source.ts';

export interface DatabaseTarget {
  readonly dbPath: string;
  readonly dbSync: 'NORMAL' | 'FULL';
  readonly compressMinBytes: number;
  readonly tiers: ReadonlyMap<string, Tier>;
  readonly resources: ReadonlyMap<string, Resource>;
  readonly budgetTimeZone: string;
  readonly starvationMs: number;
  /** ALLOT_SECRET_KEY, if set: worker tokens are sealed with it (else with the key file beside the database). */
  readonly secretKey?: string | undefined;
}

/**
 * Import into the database at `t.dbPath` (migrating its schema first, as a
 * start would), or with `dryRun` into a snapshot of it. No server may be
 * running on that file for a real import: it would not see what was imported
 * until it restarts (use the admin endpoint instead).
 */
export async function importIntoDatabase(source: V2Source, t: DatabaseTarget, opts: Omit<ImportOptions, 'onTakenOver'>): Promise<ImportReport> {
  const snapshot = opts.dryRun ? await snapshotOf(t.dbPath) : null;
  const store = new SqliteStore(snapshot?.path ?? t.dbPath, { synchronous: t.dbSync, compressMinBytes: t.compressMinBytes });
  try {
    await store.migrate();
    // The key is the one beside Allot's own database (not the snapshot's folder).
    const registry = new Registry(store, t.tiers, t.resources, Secrets.load({ secretKey: t.secretKey, dbPath: t.dbPath }));
    await registry.load();
    return await importV2(source, { store, registry, countTokens, budgetTimeZone: t.budgetTimeZone, starvationMs: t.starvationMs, now: Date.now }, opts);
  } finally {
    await store.close();
    snapshot?.remove();
  }
}

/**
 * A private copy of the database at `dbPath` (an empty in-memory one when
 * there is no file yet), to be removed with `remove()`.
 */
export async function snapshotOf(dbPath: string): Promise<{ path: string; remove: () => void }> {
  if (dbPath === ':memory:' || !existsSync(dbPath)) return { path: ':memory:', remove: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'allot-dry-run-'));
  const path = join(dir, 'snapshot.db');
  const src = new DatabaseSync(dbPath, { readOnly: true });
  try {
    await backup(src, path);
  } finally {
    src.close();
  }
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
