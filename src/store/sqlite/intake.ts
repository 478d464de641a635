/**
 * How requests enter the store: enqueue (a submission, with its budget check
 * and hold) and importRequest (a v2 execution taken over during migration).
 * Both are idempotent: a request already stored under the same key is
 * returned as 'existing' and nothing is written.
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import type { EnqueueInput, EnqueueResult } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { writeAudit } from './audit.ts';
import { getBudget } from './budgets.ts';
import { recordCompressionSaving } from './savings.ts';
import { INPUT_PARAM, INSERT_REQUEST, requestParams, toRequest } from './rows.ts';

const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = ? AND idempotency_key = ?';
const BY_EXTERNAL_ID = 'SELECT * FROM requests WHERE external_id = ?';
const ENSURE_BUDGET = 'INSERT INTO budgets (client_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING';
const HOLD = 'UPDATE budgets SET held_nano = held_nano + ? WHERE client_id = ? AND period = ?';
const HOLD_AND_SPEND = 'UPDATE budgets SET held_nano = held_nano + ?, spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?';

/**
 * Stores a new request and holds its worst-case cost against the client's
 * budget; BUDGET_EXCEEDED (nothing written) when the hold does not fit.
 */
export function enqueue(c: SqliteCtx, input: EnqueueInput): EnqueueResult {
  const q = input.request;
  return c.tx((): EnqueueResult => {
    if (q.idempotencyKey !== null) {
      const prior = c.q(BY_IDEMPOTENCY_KEY).get(q.clientId, q.idempotencyKey) as Row | undefined;
      if (prior) return { kind: 'existing', request: toRequest(prior) };
    }
    c.q(ENSURE_BUDGET).run(q.clientId, q.period);
    const b = getBudget(c, q.clientId, q.period);
    if (input.budgetLimitNano !== null && b.spentNano + b.heldNano + q.holdNano > input.budgetLimitNano) {
      const remainingNano = Math.max(0, input.budgetLimitNano - b.spentNano - b.heldNano);
      throw new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${q.clientId}`, {
        details: { required_nano: q.holdNano, remaining_nano: remainingNano, spent_nano: b.spentNano, held_nano: b.heldNano, limit_nano: input.budgetLimitNano, period: q.period },
      });
    }
    c.q(HOLD).run(q.holdNano, q.clientId, q.period);
    const params = requestParams(q, c.compressMin, input.inputJson, input.inputZstd);
    c.q(INSERT_REQUEST).run(...params);
    recordCompressionSaving(c, q.id, q.clientId, q.template, q.createdAt, params[INPUT_PARAM], 'input');
    writeAudit(c, {
      at: q.createdAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor: 'api',
      data: { template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources },
    });
    c.countMove(null, q.state);
    return { kind: 'created', request: q };
  });
}

/** Several submissions in one operation: each item's result, or the AllotError it alone is refused with. */
export function enqueueMany(c: SqliteCtx, inputs: readonly EnqueueInput[]): (EnqueueResult | AllotError)[] {
  return c.tx(() => inputs.map((input) => {
    try {
      return enqueue(c, input);
    } catch (err) {
      // Refused before anything of it was written (the budget check comes first).
      if (err instanceof AllotError) return err;
      throw err;
    }
  }));
}

/**
 * Stores a request v2 created, in whatever state it is in there, keyed by
 * its v2 execution id (`externalId`): a pending one holds its budget, a
 * finished one has spent its cost. No budget limit applies: the work exists.
 */
export function importRequest(c: SqliteCtx, q: WorkRequest, actor: string): EnqueueResult {
  if (!q.externalId) throw new AllotError('VALIDATION_ERROR', 'An imported request needs its externalId (the v2 execution id)');
  return c.tx((): EnqueueResult => {
    const prior = c.q(BY_EXTERNAL_ID).get(q.externalId as string) as Row | undefined;
    if (prior) return { kind: 'existing', request: toRequest(prior) };
    c.q(ENSURE_BUDGET).run(q.clientId, q.period);
    const held = q.state === 'PENDING' ? q.holdNano : 0;
    const spent = q.state === 'COMPLETED' || q.state === 'FAILED' ? q.costNano : 0;
    c.q(HOLD_AND_SPEND).run(held, spent, q.clientId, q.period);
    c.q(INSERT_REQUEST).run(...requestParams(q, c.compressMin));
    writeAudit(c, {
      at: q.updatedAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor,
      data: { imported: true, system: q.system ?? 'allot', external_id: q.externalId, template: q.template, cost_nano: q.costNano },
    });
    c.countMove(null, q.state);
    return { kind: 'created', request: q };
  });
}
