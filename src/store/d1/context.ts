/**
 * The D1 binding as the D1 store uses it, typed structurally (the Workers
 * binding, or miniflare's). D1 runs SQLite, so the D1 store shares the
 * SQLite store's schema (its migrations); what differs is that every call
 * is a round trip and only a batch is atomic.
 */

/** A row as D1 returns it. */
export type Row = Record<string, unknown>;

export interface D1Meta {
  readonly changes: number;
  readonly last_row_id: number;
}

export interface D1Result<T = Row> {
  readonly results: T[];
  readonly meta: D1Meta;
}

export interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  first<T = Row>(): Promise<T | null>;
  all<T = Row>(): Promise<D1Result<T>>;
  run(): Promise<D1Result>;
}

export interface D1Like {
  prepare(query: string): D1Statement;
  /** Runs the statements in order, in one transaction: all or none. */
  batch<T = Row>(statements: D1Statement[]): Promise<D1Result<T>[]>;
}

/** A value bound to a statement parameter. */
export type Val = string | number | null | Uint8Array;

/** What the D1 store's concept modules get: the binding, statements with values bound, and the compression threshold. */
export interface D1Ctx {
  readonly db: D1Like;
  /** Payloads from this many bytes are stored zstd-compressed (0: never); see sqlite/rows.ts. */
  readonly compressMin: number;
  stmt(sql: string, ...args: Val[]): D1Statement;
  first(sql: string, ...args: Val[]): Promise<Row | null>;
  all(sql: string, ...args: Val[]): Promise<Row[]>;
  /** Runs one statement on its own; resolves how many rows it changed. */
  run(sql: string, ...args: Val[]): Promise<number>;
  /** Runs statements as one transaction (all or none); each result's rows are in `sqliteRow` form. */
  batch(statements: readonly D1Statement[]): Promise<D1Result[]>;
}

/**
 * A row with its BLOB values as Uint8Array, as node:sqlite gives them, so
 * that the SQLite store's codecs read it (D1 answers a BLOB as an
 * ArrayBuffer or, through some bindings, an array of bytes; no column of the
 * schema holds anything else as an array).
 */
export function sqliteRow(r: Row): Row {
  for (const [k, v] of Object.entries(r)) {
    if (v instanceof ArrayBuffer) r[k] = new Uint8Array(v);
    else if (Array.isArray(v)) r[k] = Uint8Array.from(v as number[]);
  }
  return r;
}

/** D1 takes a BLOB as an ArrayBuffer. */
function bindable(v: Val): unknown {
  if (v instanceof Uint8Array) return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
  return v;
}

export function d1Ctx(db: D1Like, compressMin: number): D1Ctx {
  const stmt = (sql: string, ...args: Val[]): D1Statement => {
    const s = db.prepare(sql);
    return args.length ? s.bind(...args.map(bindable)) : s;
  };
  return {
    db, compressMin, stmt,
    async first(sql, ...args) {
      const r = await stmt(sql, ...args).first();
      return r ? sqliteRow(r) : null;
    },
    async all(sql, ...args) {
      return (await stmt(sql, ...args).all()).results.map(sqliteRow);
    },
    async run(sql, ...args) {
      return (await stmt(sql, ...args).run()).meta.changes;
    },
    async batch(statements) {
      const out = await db.batch([...statements]);
      for (const r of out) r.results?.forEach(sqliteRow);
      return out;
    },
  };
}
