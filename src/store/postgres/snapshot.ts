/**
 * A private copy of Allot's PostgreSQL schema, for a dry run (an import
 * that reports what it would do and writes nothing). The copy is one
 * REPEATABLE READ transaction, so it is one consistent state of a database
 * that running instances keep writing: every table (`LIKE … INCLUDING ALL`:
 * columns, defaults, identities, indexes, checks), its rows, its identity
 * counters where they were, and its foreign keys. The source schema is only
 * read. `remove()` drops the copy.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { unavailable } from './unavailable.ts';

export interface SchemaSnapshot {
  /** The copy's schema name, for `ALLOT_DATABASE_SCHEMA`-style options. */
  readonly schema: string;
  remove(): Promise<void>;
}

const q = (id: string): string => pg.escapeIdentifier(id);

/** Copy schema `source` (default `public`) of the database at `url` into a new schema. */
export async function snapshotSchema(url: string, source = 'public'): Promise<SchemaSnapshot> {
  // At most 63 characters, letters, digits and underscores (what the store accepts as a schema).
  const schema = `${source.slice(0, 40)}_dry_run_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url, application_name: 'allot dry run' });
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await client.query(`CREATE SCHEMA ${q(schema)}`);
    const tables = await client.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, [source]);
    for (const { name } of tables.rows) {
      await client.query(`CREATE TABLE ${q(schema)}.${q(name)} (LIKE ${q(source)}.${q(name)} INCLUDING ALL)`);
      await client.query(`INSERT INTO ${q(schema)}.${q(name)} OVERRIDING SYSTEM VALUE SELECT * FROM ${q(source)}.${q(name)}`);
    }
    // Identity counters go on from where the source's are, so new rows number as they would have.
    const identities = await client.query<{ tbl: string; col: string }>(
      `SELECT table_name AS tbl, column_name AS col FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES'`, [source]);
    for (const { tbl, col } of identities.rows) {
      await client.query(
        `SELECT setval(pg_get_serial_sequence($1, $2), (SELECT COALESCE(MAX(${q(col)}), 0) + 1 FROM ${q(schema)}.${q(tbl)}), false)`,
        [`${q(schema)}.${q(tbl)}`, col]);
    }
    // Foreign keys last (LIKE does not copy them). Read with the source first on the search path, their
    // definitions name its tables unqualified, and so name the copy's once the copy is first.
    await client.query(`SET LOCAL search_path = ${q(source)}`);
    const fks = await client.query<{ tbl: string; name: string; def: string }>(
      `SELECT c.relname AS tbl, k.conname AS name, pg_get_constraintdef(k.oid) AS def
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND k.contype = 'f'`, [source]);
    await client.query(`SET LOCAL search_path = ${q(schema)}`);
    for (const { tbl, name, def } of fks.rows) await client.query(`ALTER TABLE ${q(tbl)} ADD CONSTRAINT ${q(name)} ${def}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw unavailable(err);
  } finally {
    await client.end().catch(() => undefined);
  }
  return {
    schema,
    async remove() {
      const c = new pg.Client({ connectionString: url, application_name: 'allot dry run' });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
