/**
 * Whether a transition may move a request, from what its row reads now
 * (`state`, `lease_token`): the same check for every store, whose
 * `transition`s read the row, ask this, then write. Pure.
 */
import { assertTransition, type State } from '../core/states.ts';

export interface Move {
  /** States the move may start from; from any other, it does not apply. */
  readonly from: readonly State[];
  readonly to: State;
  /** A state passed through on the way (both steps must be legal). */
  readonly via?: { readonly state: State } | undefined;
  /** The fencing token the caller holds; null: any (operator actions, the reaper). */
  readonly token: number | null;
}

/**
 * The state the request moves from, or null when the move does not apply
 * (not in one of `m.from`, or `m.token` is stale). Throws when the state
 * machine forbids the move itself: a bug in the caller, not a race.
 */
export function movableFrom(row: Readonly<Record<string, unknown>>, m: Move): State | null {
  const from = row.state as State;
  if (!m.from.includes(from)) return null;
  if (m.token !== null && Number(row.lease_token) !== m.token) return null;
  if (m.via) {
    assertTransition(from, m.via.state);
    assertTransition(m.via.state, m.to);
  } else assertTransition(from, m.to);
  return from;
}
