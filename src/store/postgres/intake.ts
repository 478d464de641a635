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
 * update of the budget row (an upsert), atomic however many processes admit
 * at once.
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import type { EnqueueInput, EnqueueResult } from '../store.ts';
import { one, type PgCtx, type Row, type Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { ensureBudget, getBudget } from './budgets.ts';
import { compressionSavingWith } from './savings.ts';
import { insertRequestParams, insertRequestSql, toRequestRow } from './rows.ts';

const INSERT_UNLESS_KEY_TAKEN = insertRequestSql('ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id, client_id, template');
const INSERT_UNLESS_IMPORTED = insertRequestSql('ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id');
const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = $1 AND idempotency_key = $2';
const BY_EXTERNAL_ID = 'SELECT * FROM requests WHERE external_id = $1';
const HOLD_AND_SPEND = 'UPDATE budgets SET held_nano = held_nano + $1, spent_nano = spent_nano + $2 WHERE client_id = $3 AND period = $4';

/**
 * Stores a new request and holds its worst-case cost against the client's
 * budget; BUDGET_EXCEEDED, with nothing written, when the hold does not fit.
 *
 * One self-committing statement: the insert (skipped when the idempotency
 * key is taken), the hold (only for a row inserted, and only if it fits: an
 * upsert of the budget row whose update is conditional), the audit row and
 * the compression saving. A hold that does not fit makes the statement call
 * allot_refuse (migration 0003), which raises: PostgreSQL undoes the insert
 * with the rest. One round trip, and the budget row is locked only while
 * that statement runs.
 */
export async function enqueue(c: PgCtx, input: EnqueueInput): Promise<EnqueueResult> {
  const q = input.request;
  const limit = input.budgetLimitNano;
  if (limit !== null && q.holdNano > limit) {
    // Over the whole budget, it fits no period's row (a new row's insert below is not checked against the limit),
    // unless it was stored already under its key.
    const prior = q.idempotencyKey === null ? undefined : await one(c, BY_IDEMPOTENCY_KEY, [q.clientId, q.idempotencyKey]);
    if (prior) return { kind: 'existing', request: toRequestRow(prior) };
    throw await budgetExceeded(c, q, limit);
  }
  const { params, input: storedInput } = insertRequestParams(q, c.compressMin, input.inputJson, input.inputZstd);
  const p = (v: Val): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const audit = JSON.stringify({ template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources });
  const saving = compressionSavingWith(q.createdAt, storedInput, 'input');
  const sql = `WITH u AS (${INSERT_UNLESS_KEY_TAKEN}),
    hold AS (INSERT INTO budgets (client_id, period, held_nano) SELECT ${p(q.clientId)}::text, ${p(q.period)}::text, ${p(q.holdNano)}::bigint FROM u
      ON CONFLICT (client_id, period) DO UPDATE SET held_nano = budgets.held_nano + EXCLUDED.held_nano
      WHERE ${p(limit)}::bigint IS NULL OR budgets.spent_nano + budgets.held_nano + EXCLUDED.held_nano <= ${p(limit)}::bigint
      RETURNING held_nano),
    a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
      SELECT ${p(q.createdAt)}::bigint, u.id, ${p(q.clientId)}::text, 'transition', NULL, ${p(q.state)}::text, 'api', ${p(audit)}::text FROM u)
    ${saving.map((w, i) => `, x${i} AS (${w(p)})`).join('')}
    SELECT CASE WHEN EXISTS (SELECT 1 FROM u) AND NOT EXISTS (SELECT 1 FROM hold) THEN allot_refuse('BUDGET_EXCEEDED')
      ELSE (SELECT count(*) FROM u)::int END AS inserted`;
  let inserted: number;
  try {
    inserted = Number(((await one(c, sql, params)) as Row).inserted);
  } catch (err) {
    if (isRefusal(err, 'BUDGET_EXCEEDED')) throw await budgetExceeded(c, q, limit as number);
    throw err;
  }
  if (inserted === 0) {
    // Stored under this key already: the common retry, or a concurrent twin that committed first (the insert waited for it).
    const prior = await one(c, BY_IDEMPOTENCY_KEY, [q.clientId, q.idempotencyKey]);
    if (!prior) throw new AllotError('INTERNAL_ERROR', `Request ${q.id}: idempotency key conflict without a stored request`);
    return { kind: 'existing', request: toRequestRow(prior) };
  }
  return { kind: 'created', request: q };
}

/** An error raised by allot_refuse(code) (migration 0003). */
function isRefusal(err: unknown, code: string): boolean {
  return (err as { code?: unknown }).code === 'P0001' && (err as Error).message === `allot_refuse:${code}`;
}

async function budgetExceeded(c: PgCtx, q: WorkRequest, limit: number): Promise<AllotError> {
  const b = await getBudget(c, q.clientId, q.period);
  return new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${q.clientId}`, {
    details: { required_nano: q.holdNano, remaining_nano: Math.max(0, limit - b.spentNano - b.heldNano), spent_nano: b.spentNano, held_nano: b.heldNano, limit_nano: limit, period: q.period },
  });
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
