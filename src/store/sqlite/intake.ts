/**
 * How requests enter the store: enqueue (a submission, with its budget check
 * and hold) and importRequest (a v2 execution taken over during migration).
 * Both are idempotent: a request already stored under the same key is
 * returned as 'existing' and nothing is written.
 */
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import type { EnqueueInput, EnqueueResult } from '../store.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { writeAudit } from './audit.ts';
import { getBudget } from './budgets.ts';
import { recordCompressionSaving } from './savings.ts';
import { INPUT_PARAM, INSERT_REQUEST, requestParams, toRequest } from './rows.ts';
import { eachChunk } from './values.ts';

export const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = ? AND idempotency_key = ?';
export const BY_EXTERNAL_ID = 'SELECT * FROM requests WHERE external_id = ?';
export const ENSURE_BUDGET = 'INSERT INTO budgets (client_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING';
export const HOLD = 'UPDATE budgets SET held_nano = held_nano + ? WHERE client_id = ? AND period = ?';
export const HOLD_AND_SPEND = 'UPDATE budgets SET held_nano = held_nano + ?, spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?';

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
    if (input.budgetLimitNano !== null && b.spentNano + b.heldNano + q.holdNano > input.budgetLimitNano) throw budgetExceeded(q, input.budgetLimitNano, b.spentNano, b.heldNano);
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

/**
 * Several submissions in one operation: each item's result, or the
 * AllotError it alone is refused with, as enqueue would give them one after
 * another. Each client and period's budget is read once and its holds added
 * once; the rows and their audit go in as VALUES batches (values.ts).
 */
export function enqueueMany(c: SqliteCtx, inputs: readonly EnqueueInput[]): (EnqueueResult | AllotError)[] {
  if (inputs.length === 0) return [];
  return c.tx(() => {
    const budgets = new Map<string, { readonly clientId: string; readonly period: string; spent: number; held: number; added: number }>();
    const created = new Map<string, WorkRequest>();
    const rows: Val[][] = [];
    const audits: Val[][] = [];
    const stored: [WorkRequest, Val][] = [];
    const out = inputs.map((input): EnqueueResult | AllotError => {
      const q = input.request;
      if (q.idempotencyKey !== null) {
        const key = `${q.clientId}\n${q.idempotencyKey}`;
        const earlier = created.get(key);
        if (earlier) return { kind: 'existing', request: earlier };
        const prior = c.q(BY_IDEMPOTENCY_KEY).get(q.clientId, q.idempotencyKey) as Row | undefined;
        if (prior) return { kind: 'existing', request: toRequest(prior) };
      }
      const group = `${q.clientId}\n${q.period}`;
      let b = budgets.get(group);
      if (!b) {
        c.q(ENSURE_BUDGET).run(q.clientId, q.period);
        const read = getBudget(c, q.clientId, q.period);
        b = { clientId: q.clientId, period: q.period, spent: read.spentNano, held: read.heldNano, added: 0 };
        budgets.set(group, b);
      }
      if (input.budgetLimitNano !== null && b.spent + b.held + q.holdNano > input.budgetLimitNano) return budgetExceeded(q, input.budgetLimitNano, b.spent, b.held);
      b.held += q.holdNano;
      b.added += q.holdNano;
      const params = requestParams(q, c.compressMin, input.inputJson, input.inputZstd);
      rows.push(params);
      stored.push([q, params[INPUT_PARAM] as Val]);
      audits.push([q.createdAt, q.id, q.clientId, 'transition', null, q.state, 'api', JSON.stringify({ template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources })]);
      if (q.idempotencyKey !== null) created.set(`${q.clientId}\n${q.idempotencyKey}`, q);
      return { kind: 'created', request: q };
    });
    eachChunk(c, rows[0]?.length ?? 0, rows, insertRequests);
    for (const b of budgets.values()) if (b.added !== 0) c.q(HOLD).run(b.added, b.clientId, b.period);
    eachChunk(c, 8, audits, insertAudits);
    for (const [q, input] of stored) recordCompressionSaving(c, q.id, q.clientId, q.template, q.createdAt, input, 'input');
    for (let k = 0; k < rows.length; k++) c.countMove(null, 'PENDING');
    return out;
  });
}

const insertRequests = (values: string): string => INSERT_REQUEST.replace(/VALUES \([^)]*\)$/, `VALUES ${values}`);
const insertAudits = (values: string): string => `INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) VALUES ${values}`;

export function budgetExceeded(q: WorkRequest, limitNano: number, spentNano: number, heldNano: number): AllotError {
  return new AllotError('BUDGET_EXCEEDED', `Estimated worst-case cost does not fit the remaining budget of client ${q.clientId}`, {
    details: { required_nano: q.holdNano, remaining_nano: Math.max(0, limitNano - spentNano - heldNano), spent_nano: spentNano, held_nano: heldNano, limit_nano: limitNano, period: q.period },
  });
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
