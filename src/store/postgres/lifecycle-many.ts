/**
 * Claims and completions in batches (a pull worker's poll, a batch of its
 * results): the same moves as lifecycle.ts's claim and complete, checked and
 * audited the same way, each batch written by ONE self-committing statement
 * (the rows, the budgets, the audit) instead of one per request.
 *
 * A claim needs nothing read first (state and PENDING are conditions of the
 * update). A completion is read first and written only to the row versions
 * read (`xmin`, as transition.ts does for one): a request another writer
 * changed in between is left out of the statement, read again and completed
 * on its own. A completion whose output is stored compressed goes through the
 * single-request path (its bytes and saving are written with it).
 */
import type { WorkRequest } from '../../model.ts';
import { movableFrom } from '../move-check.ts';
import { completedColumns, settledAuditData, settledColumns } from '../settle.ts';
import { packJson } from '../sqlite/rows.ts';
import type { ClaimOptions, CompleteOptions } from '../store.ts';
import type { PgCtx, Row } from './context.ts';
import { complete } from './lifecycle.ts';
import { toRequestRow } from './rows.ts';

const CLAIM = `WITH j AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, id text, s int, now bigint, owner text, reserved text, lease bigint, deadline bigint, data text)),
  u AS (UPDATE requests r SET
      state = CASE WHEN j.s = 1 THEN 'RUNNING' ELSE 'PREPARING' END, updated_at = j.now, lease_owner = j.owner, lease_token = r.lease_token + 1,
      reserved = j.reserved, lease_expires_at = j.lease, attempts = r.attempts + j.s,
      deadline_at = CASE WHEN j.s = 1 THEN j.deadline ELSE r.deadline_at END,
      started_at = CASE WHEN j.s = 1 THEN COALESCE(r.started_at, j.now) ELSE r.started_at END,
      progress = CASE WHEN j.s = 1 THEN NULL ELSE r.progress END
    FROM j WHERE r.id = j.id AND r.state = 'PENDING' RETURNING r.*),
  a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
    SELECT at, id, client_id, 'transition', from_state, to_state, actor, data FROM (
      SELECT j.ord, 1 AS n, j.now AS at, u.id, u.client_id, 'PENDING' AS from_state, 'PREPARING' AS to_state, j.owner AS actor, j.data
        FROM u JOIN j ON j.id = u.id
      UNION ALL
      SELECT j.ord, 2, j.now, u.id, u.client_id, 'PREPARING', 'RUNNING', 'dispatcher', jsonb_build_object('attempt', u.attempts)::text
        FROM u JOIN j ON j.id = u.id WHERE j.s = 1) s
    ORDER BY ord, n)
  SELECT * FROM u`;

const CURRENT = 'SELECT xmin::text AS version, id, state, lease_token, client_id, period, hold_nano, usage, cost_nano FROM requests WHERE id = ANY($1::text[])';

const COMPLETE = `WITH j AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, id text, version text, now bigint, output text, progress text, optimization text, usage text,
      cost bigint, overuse text, release bigint, client_id text, period text, data text)),
  u AS (UPDATE requests r SET
      state = 'COMPLETED', updated_at = j.now, output = j.output, output_zstd = NULL, error = NULL, completed_at = j.now, progress = j.progress,
      optimization = COALESCE(j.optimization, r.optimization), usage = j.usage, cost_nano = j.cost, overuse = COALESCE(j.overuse, r.overuse),
      reserved = NULL, lease_owner = NULL, lease_expires_at = NULL
    FROM j WHERE r.id = j.id AND r.xmin = j.version::xid RETURNING r.*),
  b AS (UPDATE budgets SET held_nano = GREATEST(0, held_nano - s.release), spent_nano = spent_nano + s.charge
    FROM (SELECT j.client_id, j.period, SUM(j.release)::bigint AS release, SUM(j.cost)::bigint AS charge
          FROM j JOIN u ON u.id = j.id GROUP BY j.client_id, j.period) s
    WHERE budgets.client_id = s.client_id AND budgets.period = s.period AND (s.release <> 0 OR s.charge <> 0)),
  a AS (INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data)
    SELECT j.now, j.id, j.client_id, 'transition', 'RUNNING', 'COMPLETED', 'dispatcher', j.data FROM j JOIN u ON u.id = j.id ORDER BY j.ord)
  SELECT * FROM u`;

/** PENDING → PREPARING (→ RUNNING with `start`) for each item, one statement; see lifecycle.ts claim. */
export async function claimMany(c: PgCtx, items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): Promise<(WorkRequest | null)[]> {
  if (items.length === 0) return [];
  const seen = new Set<string>();
  const rows = await c.q(CLAIM, [JSON.stringify(items.flatMap(({ id, opts: o }, ord) => {
    if (seen.has(id)) return []; // The same request twice: the first claims it, the second finds it claimed.
    seen.add(id);
    return [{
      ord, id, s: o.start ? 1 : 0, now: o.now, owner: o.owner, reserved: JSON.stringify(o.reserved),
      lease: o.start ? o.start.leaseExpiresAt : o.now + o.leaseMs, deadline: o.start?.deadlineAt ?? null, data: JSON.stringify({ reserved: o.reserved }),
    }];
  }))]);
  const byId = new Map(rows.map((r) => [r.id as string, r]));
  return items.map(({ id }) => {
    const r = byId.get(id);
    byId.delete(id);
    return r ? toRequestRow(r) : null;
  });
}

/** RUNNING → COMPLETED for each item: one read, one statement (and one more each for any that lost a race); see lifecycle.ts complete. */
export async function completeMany(c: PgCtx, items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): Promise<(WorkRequest | null)[]> {
  if (items.length === 0) return [];
  const packed = items.map((x) => packJson(x.opts.output, c.compressMin));
  const current = new Map((await c.q(CURRENT, [items.map((x) => x.id)])).map((r) => [r.id as string, r]));
  const writes: Record<string, unknown>[] = [];
  const alone: number[] = [];
  const taken = new Set<string>();
  items.forEach((x, ord) => {
    const cur = current.get(x.id);
    if (!cur || taken.has(x.id) || movableFrom(cur, { from: ['RUNNING'], to: 'COMPLETED', token: x.token }) === null) return;
    taken.add(x.id);
    const p = packed[ord] as string | Uint8Array;
    if (typeof p !== 'string') return void alone.push(ord);
    const s = x.opts.settlement;
    const set = settledColumns(cur, s, completedColumns({ output: p }, x.opts.now, x.opts.optimization));
    writes.push({
      ord, id: x.id, version: cur.version, now: x.opts.now, output: p, progress: set.progress, optimization: set.optimization ?? null, usage: set.usage,
      cost: s.costNano, overuse: set.overuse ?? null, release: Number(cur.hold_nano), client_id: cur.client_id, period: cur.period,
      data: JSON.stringify(settledAuditData(cur, s, set)),
    });
  });
  const rows: Row[] = writes.length ? await c.q(COMPLETE, [JSON.stringify(writes)]) : [];
  const done = new Map<number, WorkRequest | null>();
  const written = new Map(rows.map((r) => [r.id as string, r]));
  for (const w of writes) {
    const r = written.get(w.id as string);
    // Changed by another writer since the read (lost the race): read again and decided on its own.
    if (r) done.set(w.ord as number, toRequestRow(r));
    else alone.push(w.ord as number);
  }
  for (const ord of alone.toSorted((a, b) => a - b)) {
    const x = items[ord] as (typeof items)[number];
    done.set(ord, await complete(c, x.id, x.token, x.opts));
  }
  return items.map((_, ord) => done.get(ord) ?? null);
}
