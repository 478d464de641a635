/**
 * A request's run, from claim to its end: claim (PENDING → PREPARING, or
 * straight on to RUNNING), start, unclaim, progress and pipeline state,
 * complete / retryLater / fail (each settles the attempt's usage and cost),
 * promote (a retry's wait is over) and cancel. Every state change goes
 * through transition(); progress and pipeline writes are fenced the same way
 * (lease token, RUNNING) but change no state.
 */
import type { State } from '../../core/states.ts';
import type { PipelineState, Progress, WorkRequest } from '../../model.ts';
import type { ClaimOptions, CompleteOptions, Settlement } from '../store.ts';
import { completedColumns } from '../settle.ts';
import { cancelSpec, claimSpec, failSpec, promoteSpec, retryLaterSpec, settledSpec, startSpec, unclaimSpec } from '../lifecycle-specs.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { recordCompressionSaving } from './savings.ts';
import { transition } from './transition.ts';
import { packJson } from './rows.ts';

export const SET_PROGRESS = "UPDATE requests SET progress = ? WHERE id = ? AND lease_token = ? AND state = 'RUNNING'";
export const EXTEND_LEASE = "UPDATE requests SET lease_expires_at = MAX(lease_expires_at, ?) WHERE id = ? AND lease_token = ? AND state = 'RUNNING'";
export const SET_PIPELINE = "UPDATE requests SET pipeline = ?, progress = COALESCE(?, progress) WHERE id = ? AND lease_token = ? AND state = 'RUNNING' RETURNING client_id";

/** Claims a PENDING request (and with `o.start` starts it): lifecycle-specs.ts claimSpec. */
export function claim(c: SqliteCtx, id: string, o: ClaimOptions): WorkRequest | null {
  return transition(c, id, claimSpec(o));
}

/** PREPARING → RUNNING: an attempt begins (counted), with its deadline and lease. */
export function start(c: SqliteCtx, id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): WorkRequest | null {
  return transition(c, id, startSpec(token, o));
}

/** PREPARING → PENDING: the dispatcher gives a claimed request back (and releases its grant). */
export function unclaim(c: SqliteCtx, id: string, token: number, o: { now: number; reason: string }): WorkRequest | null {
  return transition(c, id, unclaimSpec(token, o));
}

/** False when the token is stale or the request is not RUNNING. */
/** A pull worker's heartbeat: its lease on the job moves on (never back). */
export function extendLease(c: SqliteCtx, id: string, token: number, until: number): boolean {
  return Number(c.q(EXTEND_LEASE).run(until, id, token).changes) > 0;
}

export function setProgress(c: SqliteCtx, id: string, token: number, p: Progress): boolean {
  const r = c.q(SET_PROGRESS).run(JSON.stringify(p), id, token);
  return Number(r.changes) > 0;
}

/**
 * Records a pipeline's state (and progress) on a RUNNING request; a stage
 * that `ended` leaves an audit row. False when the token is stale.
 */
export function setPipeline(c: SqliteCtx, id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): boolean {
  return c.tx(() => {
    const r = c.q(SET_PIPELINE).get(JSON.stringify(o.pipeline), o.progress ? JSON.stringify(o.progress) : null, id, token) as Row | undefined;
    if (!r) return false;
    if (o.ended) writeAudit(c, { at: o.now, requestId: id, clientId: r.client_id as string, kind: 'stage', from: null, to: null, actor: 'dispatcher', data: o.ended });
    return true;
  });
}

/** RUNNING → COMPLETED with its output (packed before the transaction: compressing a large one is slow). */
export function complete(
  c: SqliteCtx,
  id: string,
  token: number,
  o: CompleteOptions,
): WorkRequest | null {
  const packed = packJson(o.output, c.compressMin);
  return c.tx(() => {
    const done = settled(c, id, token, 'COMPLETED', o.now, o.settlement, true, completedColumns({ output: packed }, o.now, o.optimization));
    if (done) recordCompressionSaving(c, id, done.clientId, done.template, o.now, packed, 'output');
    return done;
  });
}

/** The attempt failed and another may follow at `o.runAt`: → WAITING_RETRY, the hold kept. */
export function retryLater(c: SqliteCtx, id: string, token: number, o: { now: number; runAt: number; error: WorkRequest['error']; settlement: Settlement }): WorkRequest | null {
  return transition(c, id, retryLaterSpec(token, o));
}

/** The request failed for good: → FAILED, the hold released. */
export function fail(c: SqliteCtx, id: string, token: number, o: { now: number; error: WorkRequest['error']; settlement: Settlement }): WorkRequest | null {
  return transition(c, id, failSpec(token, o));
}

/** End of an attempt: add its usage and cost to the request and the budget. */
function settled(c: SqliteCtx, id: string, token: number, to: State, now: number, s: Settlement, terminal: boolean, set: Record<string, Val>): WorkRequest | null {
  return transition(c, id, settledSpec(token, to, now, s, terminal, set));
}

/** WAITING_RETRY → PENDING: the retry's wait is over. */
export function promote(c: SqliteCtx, id: string, now: number): WorkRequest | null {
  return transition(c, id, promoteSpec(now));
}

/** Any live state → CANCELLED, by an operator or the client (no token): the hold released (the caller releases the grant). */
export function cancel(c: SqliteCtx, id: string, o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): WorkRequest | null {
  return transition(c, id, cancelSpec(o));
}
