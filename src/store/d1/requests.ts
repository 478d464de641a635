/**
 * Requests entering D1 and read back: enqueue (the budget hold checked in
 * the statement that takes it, so concurrent submissions never overspend),
 * and the reads, with the SQLite store's SQL and row codecs.
 */
import { AllotError } from '../../core/errors.ts';
import { STATES, type State } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import type { EnqueueInput, EnqueueResult, RequestFilter, UsageRow } from '../store.ts';
import { budgetExceeded } from '../sqlite/intake.ts';
import { INPUT_PARAM, INSERT_REQUEST, rawBytes, requestParams, toRequest } from '../sqlite/rows.ts';
import { INSERT_SAVING } from '../sqlite/savings.ts';
import { BY_ID, BY_IDEMPOTENCY_KEY, COUNT_BY_STATE, QUEUED, requestsQuery, STATE_BY_ID, USAGE_BY_TEMPLATE } from '../sqlite/views.ts';
import { auditStmt, getBudget } from './admin.ts';
import type { D1Ctx, D1Statement } from './context.ts';
import { EXISTS, insertWhere } from './guard.ts';

/**
 * The hold, only if it fits the limit, checked and taken in one statement:
 * a first hold of the period creates the budget row (if it fits), a later
 * one adds to it (if the total fits). Refused, it writes nothing at all.
 */
const HOLD_WITHIN = `INSERT INTO budgets (client_id, period, held_nano) SELECT ?, ?, ? WHERE ? <= ?
      ON CONFLICT (client_id, period) DO UPDATE SET held_nano = held_nano + excluded.held_nano WHERE spent_nano + held_nano + excluded.held_nano <= ?`;
const HOLD = `INSERT INTO budgets (client_id, period, held_nano) VALUES (?, ?, ?)
      ON CONFLICT (client_id, period) DO UPDATE SET held_nano = held_nano + excluded.held_nano`;

/** The compression saving of a payload stored compressed, written only if `cond` holds. */
export function compressionSavingStmt(c: D1Ctx, requestId: string, clientId: string, template: string, at: number, stored: unknown, what: string, cond: string, condArgs: readonly (string | number)[]): D1Statement[] {
  if (!(stored instanceof Uint8Array)) return [];
  const raw = rawBytes(stored);
  return [c.stmt(insertWhere(INSERT_SAVING, cond), at, requestId, clientId, template, 'compression', 0, 0, raw - stored.length, `${what} stored with zstd: ${raw} → ${stored.length} bytes`, ...condArgs)];
}

function isIdempotencyConflict(err: unknown): boolean {
  return /UNIQUE constraint failed: requests\.client_id, requests\.idempotency_key/i.test(String((err as Error)?.message ?? err));
}

/**
 * Stores a new request and holds its worst-case cost against the client's
 * budget in one batch: the hold is an UPDATE that applies only within the
 * limit, and the request and its audit row only if the hold did.
 * BUDGET_EXCEEDED (nothing written) when it does not fit; a request already
 * stored under the same Idempotency-Key is returned as 'existing'.
 */
export async function enqueue(c: D1Ctx, input: EnqueueInput): Promise<EnqueueResult> {
  const q = input.request;
  if (q.idempotencyKey !== null) {
    const prior = await c.first(BY_IDEMPOTENCY_KEY, q.clientId, q.idempotencyKey);
    if (prior) return { kind: 'existing', request: toRequest(prior) };
  }
  const limit = input.budgetLimitNano;
  const params = requestParams(q, c.compressMin, input.inputJson, input.inputZstd);
  const stmts = [
    limit === null ? c.stmt(HOLD, q.clientId, q.period, q.holdNano) : c.stmt(HOLD_WITHIN, q.clientId, q.period, q.holdNano, q.holdNano, limit, limit),
    c.stmt(insertWhere(INSERT_REQUEST, 'changes() = 1'), ...params),
    ...compressionSavingStmt(c, q.id, q.clientId, q.template, q.createdAt, params[INPUT_PARAM], 'input', EXISTS, [q.id]),
    auditStmt(c, {
      at: q.createdAt, requestId: q.id, clientId: q.clientId, kind: 'transition', from: null, to: q.state, actor: 'api',
      data: { template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources },
    }, EXISTS, [q.id]),
  ];
  let held: number;
  try {
    held = (await c.batch(stmts))[0]?.meta.changes ?? 0;
  } catch (err) {
    if (q.idempotencyKey === null || !isIdempotencyConflict(err)) throw err;
    // Stored meanwhile under the same key by another submission.
    const prior = await c.first(BY_IDEMPOTENCY_KEY, q.clientId, q.idempotencyKey);
    if (!prior) throw err;
    return { kind: 'existing', request: toRequest(prior) };
  }
  if (held === 0 && limit !== null) {
    const b = await getBudget(c, q.clientId, q.period);
    throw budgetExceeded(q, limit, b.spentNano, b.heldNano);
  }
  return { kind: 'created', request: q };
}

/**
 * Several submissions: each item as enqueue gives it, one after another (each
 * its own batch: holds in the items' order, each all or nothing).
 */
export async function enqueueMany(c: D1Ctx, inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]> {
  const out: (EnqueueResult | AllotError)[] = [];
  for (const input of inputs) {
    try {
      out.push(await enqueue(c, input));
    } catch (err) {
      if (!(err instanceof AllotError) || err.code !== 'BUDGET_EXCEEDED') throw err;
      out.push(err);
    }
  }
  return out;
}

export async function getRequest(c: D1Ctx, id: string): Promise<WorkRequest | null> {
  const r = await c.first(BY_ID, id);
  return r ? toRequest(r) : null;
}

export async function getRequestState(c: D1Ctx, id: string): Promise<State | null> {
  const r = await c.first(STATE_BY_ID, id);
  return r ? (r.state as State) : null;
}

export async function findByIdempotencyKey(c: D1Ctx, clientId: string, key: string): Promise<WorkRequest | null> {
  const r = await c.first(BY_IDEMPOTENCY_KEY, clientId, key);
  return r ? toRequest(r) : null;
}

export async function listRequests(c: D1Ctx, f: RequestFilter): Promise<WorkRequest[]> {
  const { sql, args } = requestsQuery(f);
  return (await c.all(sql, ...args)).map(toRequest);
}

export async function loadQueued(c: D1Ctx): Promise<WorkRequest[]> {
  return (await c.all(QUEUED)).map(toRequest);
}

export async function countByState(c: D1Ctx): Promise<Record<State, number>> {
  const out = Object.fromEntries(Object.values(STATES).map((s) => [s, 0])) as Record<State, number>;
  for (const r of await c.all(COUNT_BY_STATE)) out[r.state as State] = Number(r.n);
  return out;
}

export async function usageByTemplate(c: D1Ctx, clientId: string, period: string | null): Promise<UsageRow[]> {
  return (await c.all(USAGE_BY_TEMPLATE, clientId, period, period)).map((r) => ({
    template: r.template as string, requests: Number(r.requests), completed: Number(r.completed), failed: Number(r.failed),
    inputTokens: Number(r.input_tokens), outputTokens: Number(r.output_tokens), costNano: Number(r.cost_nano),
  }));
}
