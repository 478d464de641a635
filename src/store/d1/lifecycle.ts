/**
 * A request's run on D1: the SQLite store's transition specs
 * (store/lifecycle-specs.ts) carried out by d1/transition.ts, and the two
 * lease-fenced updates that change no state, one statement each.
 */
import type { PipelineState, Progress, WorkRequest } from '../../model.ts';
import { cancelSpec, claimSpec, failSpec, promoteSpec, retryLaterSpec, settledSpec, startSpec, unclaimSpec } from '../lifecycle-specs.ts';
import { completedColumns } from '../settle.ts';
import { EXTEND_LEASE, SET_PIPELINE, SET_PROGRESS } from '../sqlite/lifecycle.ts';
import { packJson } from '../sqlite/rows.ts';
import type { ClaimOptions, CompleteOptions, Settlement } from '../store.ts';
import { INSERT_AUDIT } from '../sqlite/audit.ts';
import type { D1Ctx } from './context.ts';
import { AT_REV, newRev, withRev } from './guard.ts';
import { compressionSavingStmt } from './requests.ts';
import { transition } from './transition.ts';

export const claim = (c: D1Ctx, id: string, o: ClaimOptions): Promise<WorkRequest | null> => transition(c, id, claimSpec(o));
export const start = (c: D1Ctx, id: string, token: number, o: { now: number; deadlineAt: number; leaseExpiresAt: number }): Promise<WorkRequest | null> => transition(c, id, startSpec(token, o));
export const unclaim = (c: D1Ctx, id: string, token: number, o: { now: number; reason: string }): Promise<WorkRequest | null> => transition(c, id, unclaimSpec(token, o));
export const retryLater = (c: D1Ctx, id: string, token: number, o: { now: number; runAt: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> => transition(c, id, retryLaterSpec(token, o));
export const fail = (c: D1Ctx, id: string, token: number, o: { now: number; error: WorkRequest['error']; settlement: Settlement }): Promise<WorkRequest | null> => transition(c, id, failSpec(token, o));
export const promote = (c: D1Ctx, id: string, now: number): Promise<WorkRequest | null> => transition(c, id, promoteSpec(now));
export const cancel = (c: D1Ctx, id: string, o: { now: number; actor: string; returned: Readonly<Record<string, number>> }): Promise<WorkRequest | null> => transition(c, id, cancelSpec(o));

/** RUNNING → COMPLETED with its output (packed first), and the saving if it was stored compressed. */
export function complete(c: D1Ctx, id: string, token: number, o: CompleteOptions): Promise<WorkRequest | null> {
  const packed = packJson(o.output, c.compressMin);
  return transition(c, id, settledSpec(token, 'COMPLETED', o.now, o.settlement, true, completedColumns({ output: packed }, o.now, o.optimization)), (row, guard) =>
    compressionSavingStmt(c, id, row.client_id as string, row.template as string, o.now, packed, 'output', AT_REV, guard));
}

/** A pull worker's heartbeat: its lease on the job moves on (never back). False when the token is stale or it is not RUNNING. */
export async function extendLease(c: D1Ctx, id: string, token: number, until: number): Promise<boolean> {
  return (await c.run(withRev(EXTEND_LEASE), newRev(), until, id, token)) > 0;
}

export async function setProgress(c: D1Ctx, id: string, token: number, p: Progress): Promise<boolean> {
  return (await c.run(withRev(SET_PROGRESS), newRev(), JSON.stringify(p), id, token)) > 0;
}

/** A pipeline's state (and progress) on a RUNNING request; a stage that `ended` leaves an audit row. False when the token is stale. */
export async function setPipeline(c: D1Ctx, id: string, token: number, o: { now: number; pipeline: PipelineState; progress?: Progress; ended?: Record<string, unknown> }): Promise<boolean> {
  const [r] = await c.batch([
    c.stmt(withRev(SET_PIPELINE), newRev(), JSON.stringify(o.pipeline), o.progress ? JSON.stringify(o.progress) : null, id, token),
    // The stage's audit row, with the request's client, only if the update applied.
    ...(o.ended ? [c.stmt(`${INSERT_AUDIT.replace(/\s*VALUES\s*\([\s\S]*\)\s*$/, '')} SELECT ?, id, client_id, 'stage', NULL, NULL, 'dispatcher', ? FROM requests WHERE id = ? AND changes() > 0`, o.now, JSON.stringify(o.ended), id)] : []),
  ]);
  return (r?.results.length ?? 0) > 0;
}
