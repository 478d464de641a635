/**
 * Many submissions at once (a bulk submit, or single ones arriving
 * together): the same result per item as intake.ts's enqueue, in one read of
 * the budgets and ONE self-committing statement for the batch instead of one
 * per request.
 *
 * The budget decision is made from the budgets read first: items are taken
 * in order while their holds fit. The statement inserts those (a key already
 * stored is skipped, as for one), adds each client's total hold with the
 * same conditional upsert as a single submission, and writes the audit
 * rows. If another writer moved a budget in between so that a total no
 * longer fits, the statement refuses as a whole (nothing written) and every
 * item goes through the single path. Items the read says
 * do not fit, and keys stored meanwhile, are decided by the single path too,
 * which refuses or finds them with its own atomic check. So nothing is ever
 * held beyond a limit, and each item's answer is the one it would get alone.
 * An input stored compressed goes through the single path as well: its bytes
 * are bound as they are there, and its saving recorded with it. An item
 * decided alone is decided in its place: the items before it are written
 * first, so holds are taken in the items' order.
 */
import { AllotError } from '../../core/errors.ts';
import type { EnqueueInput, EnqueueResult } from '../store.ts';
import { one, type PgCtx, type Val } from './context.ts';
import { enqueue } from './intake.ts';
import { insertRequestParams, requestColumns, toRequestRow } from './rows.ts';

const BUDGETS = 'SELECT client_id, period, spent_nano, held_nano FROM budgets WHERE (client_id, period) IN (SELECT * FROM unnest($1::text[], $2::text[]))';
const BY_IDEMPOTENCY_KEY = 'SELECT * FROM requests WHERE client_id = $1 AND idempotency_key = $2';

/** Fewer than this many go one by one (one round trip each) rather than as a batch (two). */
const MIN_BATCH = 4;

function insertMany(): string {
  const cols = requestColumns().join(', ');
  return `WITH v AS (SELECT * FROM jsonb_populate_recordset(NULL::requests, $1::jsonb)),
    extra AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id text, ord int, audit text)),
    lim AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS x(client_id text, period text, lim bigint)),
    ins AS (INSERT INTO requests (${cols}) SELECT ${cols} FROM v
      ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, client_id, period, hold_nano, state, created_at),
    g AS (SELECT client_id, period, SUM(hold_nano)::bigint AS hold FROM ins GROUP BY client_id, period),
    b AS (INSERT INTO budgets (client_id, period, held_nano) SELECT client_id, period, hold FROM g
      ON CONFLICT (client_id, period) DO UPDATE SET held_nano = budgets.held_nano + EXCLUDED.held_nano
      WHERE NOT EXISTS (SELECT 1 FROM lim WHERE lim.client_id = budgets.client_id AND lim.period = budgets.period
        AND budgets.spent_nano + budgets.held_nano + EXCLUDED.held_nano > lim.lim)
      RETURNING client_id),
    a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
      SELECT ins.created_at, ins.id, ins.client_id, 'transition', NULL, ins.state, 'api', extra.audit FROM ins JOIN extra ON extra.id = ins.id ORDER BY extra.ord)
    SELECT ins.id, (SELECT CASE WHEN (SELECT count(*) FROM g) <> (SELECT count(*) FROM b) THEN allot_refuse('BUDGET_EXCEEDED') ELSE 0 END) AS refused FROM ins`;
}
let INSERT_MANY: string | undefined;

/** Result `i` is what enqueue(inputs[i]) gives: created, existing, or the error it throws (BUDGET_EXCEEDED). */
export async function enqueueMany(c: PgCtx, inputs: readonly EnqueueInput[]): Promise<(EnqueueResult | AllotError)[]> {
  const out: (EnqueueResult | AllotError | undefined)[] = inputs.map(() => undefined);
  const alone = async (i: number): Promise<EnqueueResult | AllotError> => {
    try {
      return (out[i] = await enqueue(c, inputs[i] as EnqueueInput));
    } catch (err) {
      if (!(err instanceof AllotError)) throw err;
      return (out[i] = err);
    }
  };
  if (inputs.length < MIN_BATCH) {
    for (const i of inputs.keys()) await alone(i);
    return out as (EnqueueResult | AllotError)[];
  }
  // What each client and period has spent and held, read now; every statement checks it again.
  const groups = [...new Map(inputs.map((x) => [`${x.request.clientId}\n${x.request.period}`, x.request])).values()];
  const used = new Map<string, number>();
  for (const r of await c.q(BUDGETS, [groups.map((q) => q.clientId), groups.map((q) => q.period)])) {
    used.set(`${r.client_id as string}\n${r.period as string}`, Number(r.spent_nano) + Number(r.held_nano));
  }
  const groupOf = (q: EnqueueInput['request']): string => `${q.clientId}\n${q.period}`;
  const keys = new Set<string>();
  /** Items taken in order into the statement being made; it is written before any item after it is decided alone. */
  let run: { i: number; row: Record<string, unknown>; extra: Record<string, unknown> }[] = [];
  const write = async (): Promise<void> => {
    const batch = run;
    run = [];
    if (batch.length === 0) return;
    const limits = new Map<string, { client_id: string; period: string; lim: number }>();
    for (const { i } of batch) {
      const x = inputs[i] as EnqueueInput;
      if (x.budgetLimitNano !== null) limits.set(groupOf(x.request), { client_id: x.request.clientId, period: x.request.period, lim: x.budgetLimitNano });
    }
    let inserted: Set<string> | null = null;
    INSERT_MANY ??= insertMany();
    try {
      inserted = new Set((await c.q(INSERT_MANY, [JSON.stringify(batch.map((b) => b.row)), JSON.stringify(batch.map((b) => b.extra)), JSON.stringify([...limits.values()])]))
        .map((r) => r.id as string));
    } catch (err) {
      // A budget moved since it was read: nothing was written; each is decided alone, in order.
      if ((err as { code?: unknown }).code !== 'P0001' || (err as Error).message !== 'allot_refuse:BUDGET_EXCEEDED') throw err;
    }
    for (const { i } of batch) {
      const q = (inputs[i] as EnqueueInput).request;
      if (inserted?.has(q.id)) {
        out[i] = { kind: 'created', request: q };
        continue;
      }
      // Not inserted: its key was stored meanwhile (found), or the statement refused (decided alone).
      used.set(groupOf(q), (used.get(groupOf(q)) ?? 0) - q.holdNano);
      const prior = inserted && q.idempotencyKey !== null ? await one(c, BY_IDEMPOTENCY_KEY, [q.clientId, q.idempotencyKey]) : undefined;
      if (prior) out[i] = { kind: 'existing', request: toRequestRow(prior) };
      else await decideAlone(i);
    }
  };
  const decideAlone = async (i: number): Promise<void> => {
    const r = await alone(i);
    const q = (inputs[i] as EnqueueInput).request;
    if (!(r instanceof AllotError) && r.kind === 'created') used.set(groupOf(q), (used.get(groupOf(q)) ?? 0) + q.holdNano);
  };
  for (const [i, x] of inputs.entries()) {
    const q = x.request;
    const after = (used.get(groupOf(q)) ?? 0) + q.holdNano;
    const key = q.idempotencyKey === null ? null : `${q.clientId}\n${q.idempotencyKey}`;
    const params = insertRequestParams(q, c.compressMin, x.inputJson, x.inputZstd);
    // Decided alone, after what comes before it is written: over the limit by the read, a key repeated within the
    // batch, or an input stored compressed (its bytes are bound as they are there, not spelled out in the batch's JSON).
    if ((x.budgetLimitNano !== null && after > x.budgetLimitNano) || (key !== null && keys.has(key)) || params.input instanceof Uint8Array) {
      await write();
      await decideAlone(i);
      continue;
    }
    if (key !== null) keys.add(key);
    used.set(groupOf(q), after);
    run.push({
      i,
      row: Object.fromEntries(requestColumns().map((col, k) => [col, jsonValue(params.params[k] as Val)])),
      extra: { id: q.id, ord: i, audit: JSON.stringify({ template: q.template, hold_nano: q.holdNano, estimate: q.estimate.resources }) },
    });
  }
  await write();
  return out as (EnqueueResult | AllotError)[];
}

/** A column value as JSON for jsonb_populate_recordset (bytes, which only a compressed payload has, never come here). */
function jsonValue(v: Val): unknown {
  if (v instanceof Uint8Array) throw new Error('enqueueMany: a compressed payload goes through the single path');
  return v;
}
