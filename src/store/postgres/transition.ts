/**
 * The one function through which a request changes state: it reads the
 * request, checks the move against the state machine (core/states.ts) and
 * the caller's fencing token, and then writes in ONE statement: the row
 * update, the hold released and the cost charged on the budget, the audit
 * row(s) and any `also` rows (data-modifying CTEs, all or nothing).
 *
 * Concurrency is optimistic, by the row version PostgreSQL keeps (`xmin`,
 * the transaction that last wrote the row): the update applies only to the
 * version that was read. If another transition (another instance, the
 * reaper, a cancel) wrote the row in between, PostgreSQL makes the update
 * wait for it and then finds a newer version: nothing is written, and the
 * request is read again and checked again (a claim that lost the race then
 * sees PREPARING, a holder whose lease was taken sees a newer token; both
 * get null). So a transition needs no transaction of its own: a read and one
 * self-committing statement, two round trips instead of six.
 *
 * Inside a caller's transaction that has locked the row already (the
 * reaper, v2 updates) the first try applies. The statement locks the
 * request row, then its budget row: the order used everywhere, so
 * transitions cannot deadlock one another.
 */
import type { State } from '../../core/states.ts';
import { movableFrom } from '../move-check.ts';
import type { WorkRequest } from '../../model.ts';
import { one, type PgCtx, type Row, type Val } from './context.ts';
import { toRequestRow } from './rows.ts';
import type { TransitionSpec as BaseSpec } from '../transition-spec.ts';

/** What a transition reads before it writes: enough to check, fence, settle and count, and the row's version. */
const SELECT_CURRENT = 'SELECT xmin::text AS version, state, lease_token, client_id, period, hold_nano, attempts, started_at, usage, cost_nano FROM requests WHERE id = $1';
/** Reads before giving up on a row other writers keep changing (each lost race means another transition applied). */
const MAX_READS = 20;

/** Another row written with the transition, only if it applies: `INSERT INTO t (cols) SELECT <values>` with `$n` placeholders from `param`. */
export type AlsoWrite = (param: (v: Val) => string) => string;
/** The shared spec (store/transition-spec.ts) over PostgreSQL's values, and rows written in the same statement. */
export interface TransitionSpec extends BaseSpec<Val> {
  /** More rows written in the same statement, only if the transition applies (the compression saving of an output). */
  readonly also?: readonly AlsoWrite[];
}

/**
 * Moves request `id` as `t` says. Null, with nothing written, when there is
 * no such request, it is not in one of `t.from`, or `t.token` is stale.
 */
export async function transition(c: PgCtx, id: string, t: TransitionSpec): Promise<WorkRequest | null> {
  for (let reads = 1; ; reads++) {
    const row = await one(c, SELECT_CURRENT, [id]);
    if (!row) return null;
    if (movableFrom(row, t) === null) return null;
    const updated = await one(c, ...writeStatement(id, t, row));
    if (updated) return toRequestRow(updated);
    if (reads >= MAX_READS) throw new Error(`request ${id} kept changing under ${MAX_READS} tries to move it to ${t.to}`);
  }
}

/** The one statement a transition writes with, applied only to the row version `row` was read at. */
function writeStatement(id: string, t: TransitionSpec, row: Row): [string, Val[]] {
  const params: Val[] = [];
  const p = (v: Val): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const set: Record<string, Val> = { ...(typeof t.set === 'function' ? t.set(row) : t.set), state: t.to, updated_at: t.now };
  const from = row.state as State;
  const clientId = row.client_id as string;
  const ctes = [`u AS (UPDATE requests SET ${Object.entries(set).map(([col, v]) => `${col} = ${p(v)}`).join(', ')} WHERE id = ${p(id)} AND xmin = ${p(row.version as string)}::xid RETURNING *)`];
  const release = t.releaseHold ? Number(row.hold_nano) : 0;
  const charge = t.chargeNano ?? 0;
  if (release !== 0 || charge !== 0) {
    ctes.push(`b AS (UPDATE budgets SET held_nano = GREATEST(0, held_nano - ${p(release)}::bigint), spent_nano = spent_nano + ${p(charge)}::bigint
      WHERE client_id = ${p(clientId)} AND period = ${p(row.period as string)} AND EXISTS (SELECT 1 FROM u))`);
  }
  const audit = (a: { from: string; to: string; actor: string; data: Record<string, unknown> | null }): string =>
    `(${p(t.now)}::bigint, ${p(id)}::text, ${p(clientId)}::text, 'transition', ${p(a.from)}::text, ${p(a.to)}::text, ${p(a.actor)}::text, ${p(a.data === null ? null : JSON.stringify(a.data))}::text)`;
  const rows = [
    ...(t.via ? [audit({ from, to: t.via.state, actor: t.via.actor, data: t.via.data ?? null })] : []),
    audit({ from: t.via ? t.via.state : from, to: t.to, actor: t.actor, data: (typeof t.data === 'function' ? t.data(row) : t.data) ?? null }),
  ];
  // VALUES rows are inserted in the order listed: the via step's audit row is numbered before the final one.
  ctes.push(`a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
    SELECT * FROM (VALUES ${rows.join(', ')}) AS v WHERE EXISTS (SELECT 1 FROM u))`);
  (t.also ?? []).forEach((w, i) => ctes.push(`x${i} AS (${w(p)} WHERE EXISTS (SELECT 1 FROM u))`));
  return [`WITH ${ctes.join(',\n')}\nSELECT * FROM u`, params];
}

/**
 * A transition that needs nothing read first: it leaves one known state, and
 * what it sets from the row as it is can be said in SQL (`lease_token + 1`).
 * The state and the fencing token are conditions of the update itself, so it
 * is one statement and one round trip (a claim, a start, an unclaim, a
 * promotion). It moves no money: holds and charges go through `transition`.
 */
export interface InPlaceSpec {
  readonly from: State;
  readonly to: State;
  readonly via?: { readonly state: State; readonly actor: string; readonly data?: Record<string, unknown> } | undefined;
  readonly token: number | null;
  readonly now: number;
  readonly set?: Readonly<Record<string, Val>>;
  /** Columns set from the row as it was, as SQL expressions; `p` adds a parameter. */
  readonly setSql?: (p: (v: Val) => string) => Readonly<Record<string, string>>;
  readonly actor: string;
  readonly data?: Record<string, unknown> | undefined;
  /** Fields of the last audit row's data taken from the updated row: `{ attempt: 'attempts' }`. */
  readonly dataFromRow?: Readonly<Record<string, string>>;
}

/** Moves request `id` as `t` says; null, with nothing written, when it is not in `t.from` or `t.token` is stale. */
export async function transitionInPlace(c: PgCtx, id: string, t: InPlaceSpec): Promise<WorkRequest | null> {
  // Only the legality of the move is checked here; its state and token are conditions of the update.
  movableFrom({ state: t.from, lease_token: t.token }, { ...t, from: [t.from] });
  const params: Val[] = [];
  const p = (v: Val): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const sets = [
    ...Object.entries(t.set ?? {}).map(([col, v]) => `${col} = ${p(v)}`),
    ...Object.entries(t.setSql?.(p) ?? {}).map(([col, expr]) => `${col} = ${expr}`),
    `state = ${p(t.to)}`, `updated_at = ${p(t.now)}`,
  ];
  const where = [`id = ${p(id)}`, `state = ${p(t.from)}`, ...(t.token === null ? [] : [`lease_token = ${p(t.token)}`])];
  const step = (n: number, from: State, to: State, actor: string, data: Record<string, unknown> | null, fromRow?: Readonly<Record<string, string>>): string => {
    const json = data === null ? 'NULL' : `${p(JSON.stringify(data))}::text`;
    const dataSql = fromRow && Object.keys(fromRow).length
      ? `(COALESCE(${json}::jsonb, '{}'::jsonb) || jsonb_build_object(${Object.entries(fromRow).map(([k, col]) => `${p(k)}::text, u.${col}`).join(', ')}))::text`
      : json;
    return `SELECT ${n} AS n, ${p(t.now)}::bigint AS at, u.id, u.client_id, ${p(from)}::text AS from_state, ${p(to)}::text AS to_state, ${p(actor)}::text AS actor, ${dataSql} AS data FROM u`;
  };
  const steps = t.via
    ? [step(1, t.from, t.via.state, t.via.actor, t.via.data ?? null), step(2, t.via.state, t.to, t.actor, t.data ?? null, t.dataFromRow)]
    : [step(1, t.from, t.to, t.actor, t.data ?? null, t.dataFromRow)];
  // Ordered by step: the via step's audit row is numbered before the last one.
  const sql = `WITH u AS (UPDATE requests SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING *),
    a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
      SELECT at, id, client_id, 'transition', from_state, to_state, actor, data FROM (${steps.join(' UNION ALL ')}) s ORDER BY n)
    SELECT * FROM u`;
  const updated = await one(c, sql, params);
  return updated ? toRequestRow(updated) : null;
}
