/**
 * The schema's migrations for D1: the SQLite store's own files (D1 runs
 * SQLite), imported as text when the Worker is bundled. A migration added
 * to src/store/sqlite/migrations/ is added here too;
 * test/cf/d1-migrate.test.ts fails until it is.
 */
import m0001 from '../sqlite/migrations/0001_init.sql';
import m0002 from '../sqlite/migrations/0002_result_cache.sql';
import m0003 from '../sqlite/migrations/0003_savings.sql';
import m0004 from '../sqlite/migrations/0004_client_optimizations.sql';
import m0005 from '../sqlite/migrations/0005_references.sql';
import m0006 from '../sqlite/migrations/0006_migration_v2.sql';
import m0007 from '../sqlite/migrations/0007_shadow_pending.sql';
import m0008 from '../sqlite/migrations/0008_alerts.sql';
import m0009 from '../sqlite/migrations/0009_completed_index.sql';
import m0010 from '../sqlite/migrations/0010_recoveries_overuse.sql';
import m0011 from '../sqlite/migrations/0011_row_version.sql';
import m0012 from '../sqlite/migrations/0012_key_management.sql';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'init', sql: m0001 },
  { version: 2, name: 'result_cache', sql: m0002 },
  { version: 3, name: 'savings', sql: m0003 },
  { version: 4, name: 'client_optimizations', sql: m0004 },
  { version: 5, name: 'references', sql: m0005 },
  { version: 6, name: 'migration_v2', sql: m0006 },
  { version: 7, name: 'shadow_pending', sql: m0007 },
  { version: 8, name: 'alerts', sql: m0008 },
  { version: 9, name: 'completed_index', sql: m0009 },
  { version: 10, name: 'recoveries_overuse', sql: m0010 },
  { version: 11, name: 'row_version', sql: m0011 },
  { version: 12, name: 'key_management', sql: m0012 },
];
