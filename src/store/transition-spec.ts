/**
 * What a state change does, declared for a store's `transition` to carry
 * out: the SQLite store's (sqlite/transition.ts, in its group commit) and the
 * D1 store's (d1/transition.ts, one guarded batch) read the same specs from
 * lifecycle-specs.ts, so a request's life is written once for both; the
 * PostgreSQL store's adds rows written in the same statement.
 */
import type { State } from '../core/states.ts';

/** A row as SQLite returns it (node:sqlite or D1). */
export type Row = Record<string, unknown>;
/** A value bound to a statement parameter. */
export type Val = string | number | null | Uint8Array;

/** `V`: the values a store binds (PostgreSQL's include booleans and arrays). */
export interface TransitionSpec<V = Val> {
  readonly from: readonly State[];
  readonly to: State;
  /**
   * Pass through this state on the way to `to` in the same write: both steps
   * are checked and audited (`via.data` for the first), one row update is made.
   */
  readonly via?: { readonly state: State; readonly actor: string; readonly data?: Record<string, unknown> } | undefined;
  /** Fencing token the caller holds; null for operator actions (cancel) and the reaper. */
  readonly token: number | null;
  readonly now: number;
  /** Columns to set; a function receives the current row (the store's SELECT_CURRENT). */
  readonly set?: Readonly<Record<string, V>> | ((cur: Row) => Readonly<Record<string, V>>);
  /** Release the request's hold (terminal states). */
  readonly releaseHold?: boolean;
  readonly chargeNano?: number;
  readonly actor: string;
  readonly data?: Record<string, unknown> | ((cur: Row) => Record<string, unknown>) | undefined;
}

/** The columns a transition reads before it writes: enough to check, fence, settle and count. */
export const CURRENT_COLUMNS = 'state, lease_token, client_id, period, hold_nano, attempts, started_at, usage, cost_nano';
