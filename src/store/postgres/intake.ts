/**
 * How requests enter the store: enqueue (a submission, with its budget check
 * and hold) and importRequest (a v2 execution taken over during migration).
 * Both are idempotent: a request already stored under the same key is
 * returned as 'existing' and nothing is written.
 *
 * With several processes, idempotency rests on the unique indexes
 * (requests_idempotency, requests_external): the row is inserted first with
 * ON CONFLICT DO NOTHING, so a concurrent duplicate waits for the first
 * insert's transaction and then finds its row; it never makes a second row
 * nor takes a second hold. The budget check and the hold are one conditional
 * UPDATE of the budget row, atomic however many processes admit at once.
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import type { EnqueueInput, EnqueueResult } from '../store.ts';
import { one, type PgCtx } from './context.ts';
import { writeAudit } from './audit.ts';
import { ensureBudget, getBudget } from './budgets.ts';
import { recordCompressionSaving } from './savings.ts';
import { insertRequestParams, insertRequestSql, toRequestRow } from './rows.ts';

const INSERT_UNLESS_KEY_TAKEN = insertRequestSql('ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id');
const INSERT_UNLESS_IMPORTED = insertRequestSql('ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id');
const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = $1 AND idempotency_key = $2';
const BY_EXTERNAL_ID = 'SELECT * FROM requests WHERE external_id = $1';
/** The budget check and the hold in one statement: no row comes back when the hold does not fit. */
const HOLD_IF_IT_FITS = `UPDATE budgets SET held_nano = held_nano + $3 WHERE client_id = $1 AND period = $2
  AND ($4::bigint IS NULL OR spent_nano + held_nano + $3 <= $4::bigint) RETURNING held_nano`;
const HOLD_AND_SPEND = 'UPDATE budgets SET held_nano = held_nano + $1, spent_nano = spent_nano + $2 WHERE client_id = $3 AND period = $4';

/**
 * Stores a new request and holds its worst-case cost against the client's
 * budget; BUDGET_EXCEEDED (the caller's transaction rolls back: nothing
 * written) when the hold does not fit.
 */
export async function enqueue(c: PgCtx, input: EnqueueInput): Promise<EnqueueResult> {
  const q = input.request;
  if (q.idempotencyKey !== null) {
    // Seen already (the common retry): answer without an insert that would only conflict.
    const prior = await one(c, BY_IDEMPOTENCY_KEY, [q.clientId, q.idempotencyKey]);
    if (prior) return { kind: 'existing', request: toRequestRow(prior) };
  }
  const { params, input: storedInput } = insertRequestParams(q, c.compressMin, input.inputJson, input.inputZstd);
  const inserted = await c.q(INSERT_UNLESS_KEY_TAKEN, params);
  if (!inserted.length) {
    // Another transaction stored this key first and has committed (the insert waited for it).
    const prior = await one(c, BY_IDEMPOTENCY_KEY, [q.clientId, q.idempotencyKey]);
    if (!prior) throw new AllotError('INTERNAL_ERROR', `Request ${q.id}: idempotency key conflict without a stored request`);
    return { kind: 'existing', request: toRequestRow(prior) };
  }
  await ensureBudget(c, q.clientId, q.period);
  const held = await c.q(HOLD_IF_IT_FITS, [q.clientId, q.period, q.holdNano, input.budgetLimitNano]);
  if (!held.length) {
    const b = await getBudget(c, q.clientId, q.period);
    const limit = input.budgetLimitNano as number;
    throw new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${q.clientId}`, {
      details: { required_nano: q.holdNano, remaining_nano: Math.max(0, limit - b.spentNano - b.heldNano), spent_nano: b.spentNano, held_nano: b.heldNano, limit_nano: limit, period: q.period },
    });
  }
  await recordCompressionSaving(c, q.id, q.clientId, q.template, q.createdAt, storedInput, 'input');
  await writeAudit(c, {
    at: q.createdAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor: 'api',
    data: { template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources },
  });
  return { kind: 'created', request: q };
}

/**
 * Inserts a request imported from the legacy database unless one with the
 * same externalId exists. A PENDING one takes its hold, a COMPLETED or
 * FAILED one charges its cost; no budget check (the work was accepted already).
 */
export async function importRequest(c: PgCtx, q: WorkRequest, actor: string): Promise<EnqueueResult> {
  if (!q.externalId) throw new AllotError('VALIDATION_ERROR', 'An imported request needs its externalId (the v2 execution id)');
  const prior = await one(c, BY_EXTERNAL_ID, [q.externalId]);
  if (prior) return { kind: 'existing', request: toRequestRow(prior) };
  const inserted = await c.q(INSERT_UNLESS_IMPORTED, insertRequestParams(q, c.compressMin).params);
  if (!inserted.length) {
    const raced = await one(c, BY_EXTERNAL_ID, [q.externalId]);
    if (!raced) throw new AllotError('INTERNAL_ERROR', `Request ${q.id}: external id conflict without a stored request`);
    return { kind: 'existing', request: toRequestRow(raced) };
  }
  await ensureBudget(c, q.clientId, q.period);
  const held = q.state === 'PENDING' ? q.holdNano : 0;
  const spent = q.state === 'COMPLETED' || q.state === 'FAILED' ? q.costNano : 0;
  await c.q(HOLD_AND_SPEND, [held, spent, q.clientId, q.period]);
  await writeAudit(c, {
    at: q.updatedAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor,
    data: { imported: true, system: q.system ?? 'allot', external_id: q.externalId, template: q.template, cost_nano: q.costNano },
  });
  return { kind: 'created', request: q };
}
