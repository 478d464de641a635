/**
 * A request's life under its lease: claim, start, unclaim, progress and
 * pipeline state, the end of an attempt (complete, retryLater, fail),
 * promote and cancel. Each is one transition (transition.ts) except the two
 * lease-fenced updates that change no state (setProgress, setPipeline), which
 * are one conditional UPDATE each.
 */
import type { State } from '../../core/states.ts';
import type { PipelineState, Progress, RequestError, WorkRequest } from '../../model.ts';
import type { ClaimOptions, CompleteOptions, Settlement } from '../store.ts';
import { completedColumns, settledAuditData, settledColumns } from '../settle.ts';
import { packJson } from '../sqlite/rows.ts';
import { one, type PgCtx, type Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { compressionSavingWith } from './savings.ts';
import { payloadColumns } from './rows.ts';
import { transition, transitionInPlace, type AlsoWrite } from './transition.ts';

/** PENDING → PREPARING (or on to RUNNING with `start`): bumps the fencing token. One statement (see transitionInPlace). */
export async function claim(c: PgCtx, id: string, o: ClaimOptions): Promise<WorkRequest | null> {
  const lease = { lease_owner: o.owner, lease_expires_at: o.now + o.leaseMs, reserved: JSON.stringify(o.reserved) };
  if (!o.start) {
    return transitionInPlace(c, id, {
      from: 'PENDING', to: 'PREPARING', token: null, now: o.now, actor: o.owner, data: { reserved: o.reserved },
      set: lease, setSql: () => ({ lease_token: 'lease_token + 1' }),
    });
  }
  const run = o.start;
  // PENDING → PREPARING → RUNNING in one row update, audited as two transitions.
  return transitionInPlace(c, id, {
    from: 'PENDING', via: { state: 'PREPARING', actor: o.owner, data: { reserved: o.reserved } }, to: 'RUNNING', token: null, now: o.now,
    actor: 'dispatcher',
    set: { ...lease, deadline_at: run.deadlineAt, lease_expires_at: run.leaseExpiresAt, progress: null },
    setSql: (p) => ({ lease_token: 'lease_token + 1', attempts: 'attempts + 1', started_at: `COALESCE(started_at, ${p(o.now)}::bigint)` }),
    dataFromRow: { attempt: 'attempts' },
  });
}

/** PREPARING → RUNNING under the lease; counts an attempt. */
export async function start(c: PgCtx, id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> {
  return transitionInPlace(c, id, {
    from: 'PREPARING', to: 'RUNNING', token, now: o.now, actor: 'dispatcher',
    set: { deadline_at: o.deadlineAt, lease_expires_at: o.leaseExpiresAt, progress: null },
    setSql: (p) => ({ attempts: 'attempts + 1', started_at: `COALESCE(started_at, ${p(o.now)}::bigint)` }),
    dataFromRow: { attempt: 'attempts' },
  });
}

/** PREPARING → PENDING: dispatch could not begin (the caller releases its grant). */
export async function unclaim(c: PgCtx, id: string, token: number, o: { now: number; reason: string }): Promise<WorkRequest | null> {
  return transitionInPlace(c, id, {
    from: 'PREPARING', to: 'PENDING', token, now: o.now, actor: 'dispatcher',
    set: { reserved: null, lease_owner: null, lease_expires_at: null }, data: { reason: o.reason },
  });
}

/** A pull worker's heartbeat: its lease on the job moves on (never back). */
export async function extendLease(c: PgCtx, id: string, token: number, until: number): Promise<boolean> {
  const r = await c.q("UPDATE requests SET lease_expires_at = GREATEST(lease_expires_at, $1) WHERE id = $2 AND lease_token = $3 AND state = 'RUNNING' RETURNING id", [until, id, token]);
  return r.length > 0;
}

export async function setProgress(c: PgCtx, id: string, token: number, p: Progress): Promise<boolean> {
  const r = await c.q("UPDATE requests SET progress = $1 WHERE id = $2 AND lease_token = $3 AND state = 'RUNNING' RETURNING id", [JSON.stringify(p), id, token]);
  return r.length > 0;
}

export async function setPipeline(c: PgCtx, id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
  const r = await one(c, "UPDATE requests SET pipeline = $1, progress = COALESCE($2, progress) WHERE id = $3 AND lease_token = $4 AND state = 'RUNNING' RETURNING client_id", [
    JSON.stringify(o.pipeline), o.progress ? JSON.stringify(o.progress) : null, id, token,
  ]);
  if (!r) return false;
  if (o.ended) await writeAudit(c, { at: o.now, requestId: id, clientId: r.client_id as string, kind: 'stage', from: null, to: null, actor: 'dispatcher', data: o.ended });
  return true;
}

/** RUNNING → COMPLETED: charge, release the hold, store the output (compressed when large, with its saving recorded). */
export async function complete(c: PgCtx, id: string, token: number, o: CompleteOptions): Promise<WorkRequest | null> {
  const packed = packJson(o.output, c.compressMin);
  return settled(c, id, token, 'COMPLETED', o.now, o.settlement, true, completedColumns(payloadColumns('output', packed), o.now, o.optimization), compressionSavingWith(o.now, packed, 'output'));
}

export async function retryLater(c: PgCtx, id: string, token: number, o: { now: number; runAt: number; error: RequestError | null; settlement: Settlement }): Promise<WorkRequest | null> {
  return settled(c, id, token, 'WAITING_RETRY', o.now, o.settlement, false, { run_at: o.runAt, error: JSON.stringify(o.error) });
}

export async function fail(c: PgCtx, id: string, token: number, o: { now: number; error: RequestError | null; settlement: Settlement }): Promise<WorkRequest | null> {
  return settled(c, id, token, 'FAILED', o.now, o.settlement, true, { error: JSON.stringify(o.error), completed_at: o.now });
}

/** End of an attempt: add its usage and cost to the request and the budget. */
async function settled(c: PgCtx, id: string, token: number, to: State, now: number, s: Settlement, terminal: boolean, set: Record<string, Val>, also: AlsoWrite[] = []): Promise<WorkRequest | null> {
  return transition(c, id, {
    from: to === 'COMPLETED' ? ['RUNNING'] : ['RUNNING', 'PREPARING'], to, token, now, actor: 'dispatcher',
    releaseHold: terminal, chargeNano: s.costNano, also,
    set: (cur) => settledColumns(cur, s, set),
    data: (cur) => settledAuditData(cur, s, set),
  });
}

/** WAITING_RETRY → PENDING once its runAt has passed. */
export async function promote(c: PgCtx, id: string, now: number): Promise<WorkRequest | null> {
  return transitionInPlace(c, id, { from: 'WAITING_RETRY', to: 'PENDING', token: null, now, actor: 'scheduler', set: { run_at: null } });
}

/** Any cancellable state → CANCELLED: the hold and the reservation go back at once. */
export async function cancel(c: PgCtx, id: string, o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> {
  return transition(c, id, {
    from: ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY'], to: 'CANCELLED', token: null, now: o.now, actor: o.actor,
    releaseHold: true, data: { returned: o.returned },
    set: { completed_at: o.now, reserved: null, lease_owner: null, lease_expires_at: null },
  });
}
