/**
 * Requests the legacy v2 orchestrator executes, on D1: imported (keyed by
 * the v2 execution id, one batch with its budget and audit) and followed
 * through the SQLite store's specs (store/external-specs.ts). A take and an
 * end reported together are two batches: if the second is lost, the request
 * stays RUNNING until v2's next report ends it.
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import { externalEndSpec, externalStartSpec } from '../external-specs.ts';
import { SELECT_SYSTEM_STATE } from '../sqlite/external.ts';
import { INSERT_REQUEST, requestParams, toRequest } from '../sqlite/rows.ts';
import { BY_EXTERNAL_ID } from '../sqlite/views.ts';
import type { EnqueueResult, ExternalUpdate } from '../store.ts';
import { auditStmt } from './admin.ts';
import type { D1Ctx } from './context.ts';
import { EXISTS } from './guard.ts';
import { transition } from './transition.ts';

/** What an imported request holds and has spent, added to its period's budget (created if absent). */
const ADD_TO_BUDGET = `INSERT INTO budgets (client_id, period, held_nano, spent_nano) SELECT ?, ?, ?, ? WHERE ${EXISTS}
      ON CONFLICT (client_id, period) DO UPDATE SET held_nano = held_nano + excluded.held_nano, spent_nano = spent_nano + excluded.spent_nano`;

export async function findByExternalId(c: D1Ctx, externalId: string): Promise<WorkRequest | null> {
  const r = await c.first(BY_EXTERNAL_ID, externalId);
  return r ? toRequest(r) : null;
}

/** Null when the request is not a v2 one, or the update does not fit its state. */
export async function updateExternal(c: D1Ctx, id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
  const cur = await c.first(SELECT_SYSTEM_STATE, id);
  if (!cur || cur.system !== 'v2') return null;
  if (cur.state === 'PENDING' || cur.state === 'PREPARING') {
    const started = await transition(c, id, externalStartSpec(cur.state, u));
    if (!started || u.to === 'RUNNING') return started;
  } else if (u.to === 'RUNNING') return null;
  return transition(c, id, externalEndSpec(u, c.compressMin));
}

function isExternalConflict(err: unknown): boolean {
  return /UNIQUE constraint failed: requests\.external_id/i.test(String((err as Error)?.message ?? err));
}

/**
 * Stores a request v2 created, in whatever state it is in there: a pending
 * one holds its budget, a finished one has spent its cost. No budget limit
 * applies: the work exists. Idempotent on the v2 execution id.
 */
export async function importRequest(c: D1Ctx, q: WorkRequest, actor: string): Promise<EnqueueResult> {
  if (!q.externalId) throw new AllotError('VALIDATION_ERROR', 'An imported request needs its externalId (the v2 execution id)');
  const prior = await c.first(BY_EXTERNAL_ID, q.externalId);
  if (prior) return { kind: 'existing', request: toRequest(prior) };
  const held = q.state === 'PENDING' ? q.holdNano : 0;
  const spent = q.state === 'COMPLETED' || q.state === 'FAILED' ? q.costNano : 0;
  try {
    await c.batch([
      c.stmt(INSERT_REQUEST, ...requestParams(q, c.compressMin)),
      c.stmt(ADD_TO_BUDGET, q.clientId, q.period, held, spent, q.id),
      auditStmt(c, {
        at: q.updatedAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor,
        data: { imported: true, system: q.system ?? 'allot', external_id: q.externalId, template: q.template, cost_nano: q.costNano },
      }),
    ]);
  } catch (err) {
    if (!isExternalConflict(err)) throw err;
    const again = await c.first(BY_EXTERNAL_ID, q.externalId);
    if (!again) throw err;
    return { kind: 'existing', request: toRequest(again) };
  }
  return { kind: 'created', request: q };
}
