/**
 * What the concept modules (transition.ts, lifecycle.ts, …) get from
 * SqliteStore: the connection's prepared-statement cache, the group-commit
 * transaction, the per-state counters and the compression threshold. The
 * store builds one context when it opens and passes that same object to every
 * call, so an operation allocates nothing for it.
 */
import type { StatementSync } from 'node:sqlite';
import type { State } from '../../core/states.ts';

/** A row as node:sqlite returns it. */
export type Row = Record<string, unknown>;
/** A value bound to a statement parameter. */
export type Val = string | number | null | Uint8Array;

export interface SqliteCtx {
  /** The prepared statement for `sql`, from the connection's cache (prepared on first use). */
  q(sql: string): StatementSync;
  /** Runs `fn` as one atomic operation in the open group commit; nested calls join the outer one. */
  tx<T>(fn: () => T): T;
  /** Keeps the per-state request counters in step with a write (`from` null: a new request). */
  countMove(from: State | null, to: State): void;
  /** Payloads from this many bytes are stored zstd-compressed (0: never); see rows.ts. */
  readonly compressMin: number;
}
