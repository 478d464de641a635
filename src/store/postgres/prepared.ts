/**
 * Statements run as named prepared statements: PostgreSQL parses and plans
 * one the first time a connection runs it, and afterwards only binds and
 * executes it (a quarter to a third less time per statement on this
 * machine, where the server shares two cores with Allot). The name is a
 * hash of the text, so every connection knows a statement by the same name.
 *
 * Only texts built from a bounded set (placeholders, never values) are
 * named; past `MAX_NAMED` distinct texts a statement runs unnamed, so a
 * text that varies without bound cannot fill the server's memory.
 *
 * A schema change under a running instance (a newer instance migrating)
 * can make a prepared `SELECT *` fail with "cached plan must not change
 * result type": `isStalePlan` tells it, and the connection is then dropped
 * (with its statements) and the operation tried again on another.
 */
import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

const MAX_NAMED = 2_000;
const names = new Map<string, string>();

/** The query config to run `sql` with: named when it can be. */
export function prepared(sql: string, params: readonly unknown[] | undefined): QueryConfig {
  let name = names.get(sql);
  if (name === undefined) {
    if (names.size >= MAX_NAMED) return { text: sql, values: params as unknown[] | undefined };
    name = `allot_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
    names.set(sql, name);
  }
  return { name, text: sql, values: params as unknown[] | undefined };
}

/** SQLSTATE 0A000 with this message: a prepared statement planned before the schema changed. */
export function isStalePlan(err: unknown): boolean {
  return (err as { code?: unknown }).code === '0A000' && /cached plan must not change result type/i.test((err as Error).message);
}
