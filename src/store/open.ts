/**
 * The one place a store is opened from config: SQLite (the embedded mode)
 * or PostgreSQL (the scale-out mode, ALLOT_DATABASE_URL). boot.ts, the CLI
 * and the v2 import all open their store here, and a database that cannot
 * be reached stops them with a message naming the setting, not a stack.
 */
import type { ResolvedConfig } from '../config/resolve.ts';
import { ConfigError } from '../config/resolve.ts';
import { redactUrl } from '../core/redact.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { MigrationResult, Store } from './store.ts';

export interface OpenOptions {
  /** A SQLite path other than config's (the v2 import's dry-run snapshot). */
  readonly sqlitePath?: string | undefined;
  /** A commit failed after callers acted on it (SQLite group commit): the process should stop. */
  readonly onFatal?: ((err: unknown) => void) | undefined;
  /** PostgreSQL connection name (application_name), for pg_stat_activity. */
  readonly applicationName?: string | undefined;
}

export interface OpenedStore {
  readonly store: Store;
  /** What opening found worth a warning (a database folder others can read). */
  readonly warnings: readonly string[];
  /** A name for logs: the SQLite path or the PostgreSQL URL without its password. */
  readonly describe: string;
}

type Config = Pick<ResolvedConfig, 'dbPath' | 'dbSync' | 'compressMinBytes' | 'scaleOut'>;

export function openStore(config: Config, opts: OpenOptions = {}): OpenedStore {
  const so = config.scaleOut;
  if (!so) {
    const path = opts.sqlitePath ?? config.dbPath;
    const store = new SqliteStore(path, { synchronous: config.dbSync, compressMinBytes: config.compressMinBytes, ...(opts.onFatal ? { onFatal: opts.onFatal } : {}) });
    return { store, warnings: store.warnings, describe: path };
  }
  const store = new PostgresStore({
    url: so.databaseUrl, schema: so.databaseSchema, poolSize: so.poolSize, compressMinBytes: config.compressMinBytes, applicationName: opts.applicationName ?? 'allot',
  });
  return { store, warnings: [], describe: redactUrl(so.databaseUrl) ?? '' };
}

/**
 * Open the store and bring its schema up to date (under the backend's
 * migration lock). An unreachable or refusing database becomes a
 * ConfigError naming ALLOT_DATABASE_URL (or ALLOT_DB), with the cause.
 */
export async function openAndMigrate(config: Config, opts: OpenOptions = {}): Promise<OpenedStore & { migrations: MigrationResult[] }> {
  let opened: OpenedStore;
  try {
    opened = openStore(config, opts);
  } catch (err) {
    throw databaseError(config, err);
  }
  try {
    return { ...opened, migrations: await opened.store.migrate() };
  } catch (err) {
    await opened.store.close().catch(() => {});
    throw databaseError(config, err);
  }
}

function databaseError(config: Config, err: unknown): ConfigError {
  const why = err instanceof Error ? err.message || (err as NodeJS.ErrnoException).code || err.name : String(err);
  if (config.scaleOut) return new ConfigError([`ALLOT_DATABASE_URL: cannot use PostgreSQL at ${redactUrl(config.scaleOut.databaseUrl)}: ${why}`], 'environment');
  return new ConfigError([`ALLOT_DB: cannot open the SQLite database ${config.dbPath}: ${why}`], 'environment');
}
