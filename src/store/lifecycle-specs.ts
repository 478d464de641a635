/**
 * A request's run as transition specs (transition-spec.ts): claim (PENDING →
 * PREPARING, or straight on to RUNNING), start, unclaim, the end of an
 * attempt (complete, retryLater, fail: each settles the attempt's usage and
 * cost), promote and cancel. Pure; the SQLite and D1 stores each carry them
 * out with their own `transition`.
 */
import type { State } from '../core/states.ts';
import type { RequestError } from '../model.ts';
import type { ClaimOptions, Settlement } from './store.ts';
import { settledAuditData, settledColumns } from './settle.ts';
import type { TransitionSpec, Val } from './transition-spec.ts';

/**
 * Takes a PENDING request for `o.owner` with a new fencing token, recording
 * what it reserved. With `o.start` it is also started: PENDING → PREPARING →
 * RUNNING in one row update, audited as two transitions.
 */
export function claimSpec(o: ClaimOptions): TransitionSpec {
  const claimed = { lease_owner: o.owner, lease_expires_at: o.now + o.leaseMs, reserved: JSON.stringify(o.reserved) };
  if (!o.start) {
    return {
      from: ['PENDING'], to: 'PREPARING', token: null, now: o.now, actor: o.owner, data: { reserved: o.reserved },
      set: (cur) => ({ ...claimed, lease_token: Number(cur.lease_token) + 1 }),
    };
  }
  const begin = o.start;
  return {
    from: ['PENDING'], via: { state: 'PREPARING', actor: o.owner, data: { reserved: o.reserved } }, to: 'RUNNING', token: null, now: o.now,
    actor: 'dispatcher',
    set: (cur) => ({
      ...claimed, lease_token: Number(cur.lease_token) + 1, attempts: Number(cur.attempts) + 1, deadline_at: begin.deadlineAt,
      lease_expires_at: begin.leaseExpiresAt, started_at: (cur.started_at as number | null) ?? o.now, progress: null,
    }),
    data: (cur) => ({ attempt: Number(cur.attempts) + 1 }),
  };
}

/** PREPARING → RUNNING: an attempt begins (counted), with its deadline and lease. */
export function startSpec(token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): TransitionSpec {
  return {
    from: ['PREPARING'], to: 'RUNNING', token, now: o.now, actor: 'dispatcher',
    set: (cur) => ({
      attempts: Number(cur.attempts) + 1, deadline_at: o.deadlineAt, lease_expires_at: o.leaseExpiresAt,
      started_at: (cur.started_at as number | null) ?? o.now, progress: null,
    }),
    data: (cur) => ({ attempt: Number(cur.attempts) + 1 }),
  };
}

/** PREPARING → PENDING: the dispatcher gives a claimed request back (and releases its grant). */
export function unclaimSpec(token: number, o: { now: number; reason: string }): TransitionSpec {
  return {
    from: ['PREPARING'], to: 'PENDING', token, now: o.now, actor: 'dispatcher',
    set: { reserved: null, lease_owner: null, lease_expires_at: null }, data: { reason: o.reason },
  };
}

/** End of an attempt: its usage and cost added to the request and the budget; `terminal` releases the hold. */
export function settledSpec(token: number, to: State, now: number, s: Settlement, terminal: boolean, set: Record<string, Val>): TransitionSpec {
  return {
    from: to === 'COMPLETED' ? ['RUNNING'] : ['RUNNING', 'PREPARING'], to, token, now, actor: 'dispatcher',
    releaseHold: terminal, chargeNano: s.costNano,
    set: (cur) => settledColumns(cur, s, set),
    data: (cur) => settledAuditData(cur, s, set),
  };
}

/** The attempt failed and another may follow at `o.runAt`: → WAITING_RETRY, the hold kept. */
export function retryLaterSpec(token: number, o: { now: number; runAt: number; error: RequestError | null; settlement: Settlement }): TransitionSpec {
  return settledSpec(token, 'WAITING_RETRY', o.now, o.settlement, false, { run_at: o.runAt, error: JSON.stringify(o.error) });
}

/** The request failed for good: → FAILED, the hold released. */
export function failSpec(token: number, o: { now: number; error: RequestError | null; settlement: Settlement }): TransitionSpec {
  return settledSpec(token, 'FAILED', o.now, o.settlement, true, { error: JSON.stringify(o.error), completed_at: o.now });
}

/** WAITING_RETRY → PENDING: the retry's wait is over. */
export function promoteSpec(now: number): TransitionSpec {
  return { from: ['WAITING_RETRY'], to: 'PENDING', token: null, now, actor: 'scheduler', set: { run_at: null } };
}

/** Any live state → CANCELLED, by an operator or the client (no token): the hold released (the caller releases the grant). */
export function cancelSpec(o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): TransitionSpec {
  return {
    from: ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY'], to: 'CANCELLED', token: null, now: o.now, actor: o.actor,
    releaseHold: true, data: { returned: o.returned },
    set: { completed_at: o.now, reserved: null, lease_owner: null, lease_expires_at: null },
  };
}
