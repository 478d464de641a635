/**
 * What the concept modules (transition.ts, lifecycle.ts, …) get from
 * PostgresStore: a query function and the compression threshold. Inside an
 * operation `q` runs on that operation's connection, in its transaction;
 * read-only lookups get one whose `q` goes to the pool.
 */

/** A row as pg returns it (BIGINT and NUMERIC already numbers; see postgres-store.ts). */
export type Row = Record<string, unknown>;
/** A value bound to a statement parameter. */
export type Val = string | number | boolean | null | Uint8Array | readonly string[];

export interface PgCtx {
  /** Runs one statement; its rows. */
  q(sql: string, params?: readonly Val[]): Promise<Row[]>;
  /** Payloads from this many bytes are stored zstd-compressed (0: never); see sqlite/rows.ts. */
  readonly compressMin: number;
}

/** The first row of a statement, or undefined. */
export async function one(c: PgCtx, sql: string, params?: readonly Val[]): Promise<Row | undefined> {
  return (await c.q(sql, params))[0];
}

/** `$1, $2, …, $n` from `from`: placeholders for n parameters. */
export function placeholders(n: number, from = 1): string {
  return Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');
}
