/**
 * Reading an Orchestrator v2 database: a SQLite file, or an SQL dump such as
 * `wrangler d1 export` writes (PRAGMA defer_foreign_keys=TRUE; CREATE TABLE …;
 * INSERT INTO "x" VALUES(…);). A dump is executed into an in-memory SQLite
 * database and read the same way as a file, which SQLite itself parses, so
 * quoting and escapes in the dump are never interpreted by hand. The source
 * is only ever read.
 */
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { V2_SCHEMA, V2_TABLES, type Row, type V2Table } from './mapping.ts';

export type V2Kind = 'sqlite' | 'sql-dump';

export interface V2Source {
  /** The file name, or what the bytes came from. */
  readonly label: string;
  readonly kind: V2Kind;
  /** Each table's rows; null when the table is not in the database. */
  readonly tables: Readonly<Record<V2Table, readonly Row[] | null>>;
}

/** The source cannot be read as a v2 database at all (nothing is imported). */
export class V2SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'V2SourceError';
  }
}

const MAGIC = 'SQLite format 3\0';

function isSqlite(bytes: Uint8Array): boolean {
  return bytes.length >= 16 && Buffer.from(bytes.subarray(0, 16)).toString('latin1') === MAGIC;
}

/** Read a v2 database from a file: SQLite (opened read-only, its WAL included) or an SQL dump. */
export function readV2File(path: string): V2Source {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new V2SourceError(`cannot read "${path}": ${(err as Error).message}`);
  }
  if (!isSqlite(bytes)) return fromDump(bytes, path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (err) {
    throw new V2SourceError(`cannot open "${path}" as SQLite: ${(err as Error).message}`);
  }
  return readTables(db, path, 'sqlite');
}

/** Read a v2 database from bytes (an upload): a SQLite image or an SQL dump. */
export function readV2Bytes(bytes: Uint8Array, label: string): V2Source {
  if (!isSqlite(bytes)) return fromDump(bytes, label);
  const image = Buffer.from(bytes);
  // A WAL-mode image cannot be opened from memory; as a rollback-journal image it reads the same
  // (a WAL file that was never checkpointed is not part of the bytes either way).
  image[18] = 1;
  image[19] = 1;
  const db = new DatabaseSync(':memory:');
  try {
    db.deserialize(image);
  } catch (err) {
    db.close();
    throw new V2SourceError(`cannot open ${label} as SQLite: ${(err as Error).message}`);
  }
  return readTables(db, label, 'sqlite');
}

function fromDump(bytes: Uint8Array, label: string): V2Source {
  const sql = Buffer.from(bytes).toString('utf8').replace(/^\uFEFF/, '');
  if (!/\bCREATE\s+TABLE\b/i.test(sql)) throw new V2SourceError(`${label} is neither a SQLite database nor an SQL dump (no CREATE TABLE)`);
  const db = new DatabaseSync(':memory:');
  try {
    db.exec(sql);
  } catch (err) {
    db.close();
    throw new V2SourceError(`cannot execute the SQL dump ${label}: ${(err as Error).message}`);
  }
  return readTables(db, label, 'sql-dump');
}

function readTables(db: DatabaseSync, label: string, kind: V2Kind): V2Source {
  try {
    const present = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
    if (!V2_TABLES.some((t) => present.has(t))) {
      throw new V2SourceError(`${label} is not an Orchestrator v2 database: it has none of the tables ${V2_TABLES.join(', ')}`);
    }
    const tables = {} as Record<V2Table, Row[] | null>;
    for (const t of V2_TABLES) {
      if (!present.has(t)) {
        tables[t] = null;
        continue;
      }
      const columns = new Set((db.prepare(`PRAGMA table_info("${t}")`).all() as { name: string }[]).map((c) => c.name));
      const missing = V2_SCHEMA[t].required.filter((c) => !columns.has(c));
      if (missing.length) throw new V2SourceError(`${label}: table ${t} lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
      tables[t] = db.prepare(`SELECT * FROM "${t}"`).all() as Row[];
    }
    return { label, kind, tables };
  } catch (err) {
    if (err instanceof V2SourceError) throw err;
    throw new V2SourceError(`cannot read ${label}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
