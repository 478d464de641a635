/**
 * Running an import against Allot's database: for real, or as a dry run on
 * a snapshot. The dry run copies Allot's database (SQLite: its online
 * backup, from a read-only connection, so a running server's file is only
 * read; PostgreSQL: a copy of its schema taken in one transaction), runs the
 * very same import on the copy and deletes it: the report is what the
 * import would do, and Allot's own data is never written.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
import type { Resource, Tier } from '../model.ts';
import { Registry } from '../service/registry.ts';
import { Secrets } from '../service/secrets.ts';
import { countTokens } from '../service/tokenizer.ts';
import type { ScaleOutConfig } from '../config/scale-out.ts';
import { openStore } from '../store/open.ts';
import { snapshotSchema } from '../store/postgres/snapshot.ts';
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
  /** The scale-out mode's PostgreSQL (then `dbPath` is unused). */
  readonly scaleOut?: ScaleOutConfig | undefined;
}

/**
 * Import into the database at `t.dbPath` (migrating its schema first, as a
 * start would), or with `dryRun` into a snapshot of it. No server may be
 * running on that file for a real import: it would not see what was imported
 * until it restarts (use the admin endpoint instead).
 */
export async function importIntoDatabase(source: V2Source, t: DatabaseTarget, opts: Omit<ImportOptions, 'onTakenOver'>): Promise<ImportReport> {
  const so = t.scaleOut;
  const pgSnapshot = opts.dryRun && so ? await snapshotSchema(so.databaseUrl, so.databaseSchema) : null;
  const snapshot = opts.dryRun && !so ? await snapshotOf(t.dbPath) : null;
  const { store } = openStore({ ...t, scaleOut: so && pgSnapshot ? { ...so, databaseSchema: pgSnapshot.schema } : so }, { sqlitePath: snapshot?.path });
  try {
    await store.migrate();
    // The key is the one beside Allot's own database (not the snapshot's folder), or the one the shared database keeps.
    const stored = t.scaleOut ? await store.getSetting('secret_key') : null;
    const secrets = stored ? Secrets.fromStored({ secretKey: t.secretKey, storedKey: stored }) : Secrets.load({ secretKey: t.secretKey, dbPath: t.scaleOut ? ':memory:' : t.dbPath });
    const registry = new Registry(store, t.tiers, t.resources, secrets);
    await registry.load();
    return await importV2(source, { store, registry, countTokens, budgetTimeZone: t.budgetTimeZone, starvationMs: t.starvationMs, now: Date.now }, opts);
  } finally {
    await store.close();
    snapshot?.remove();
    await pgSnapshot?.remove();
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
