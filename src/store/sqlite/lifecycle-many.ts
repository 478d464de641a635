/**
 * Claims and completions in batches (a pull worker's poll, a batch of its
 * results): the same moves as lifecycle.ts's claim and complete, checked and
 * audited the same way, written with one statement per table for the whole
 * batch (values bound as `VALUES` rows, see values.ts) instead of one per
 * request. Inside the group-commit transaction the
 * read and the writes are one atomic operation, so the checks made in JS
 * against the rows read hold when the rows are written.
 *
 * A completion whose output is stored compressed (a large one, bytes rather
 * than text) goes through the single-request path inside the same operation.
 */
import type { State } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import { movableFrom } from '../move-check.ts';
import { completedColumns, settledAuditData, settledColumns } from '../settle.ts';
import type { ClaimOptions, CompleteOptions } from '../store.ts';
import type { SqliteCtx, Val } from './context.ts';
import { complete } from './lifecycle.ts';
import { packJson, toRequest } from './rows.ts';
import { eachChunk } from './values.ts';

/** Rows of the audit log to insert, in order: [at, request_id, client_id, kind, from, to, actor, data]. */
type AuditRow = [number, string, string, 'transition', State, State, string, string | null];

const insertAudits = (values: string): string => `INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) VALUES ${values}`;

const claimRows = (values: string): string => `WITH j(id, s, now, owner, reserved, lease, deadline) AS (VALUES ${values})
  UPDATE requests SET
    state = CASE WHEN j.s THEN 'RUNNING' ELSE 'PREPARING' END, updated_at = j.now, lease_owner = j.owner, lease_token = lease_token + 1,
    reserved = j.reserved, lease_expires_at = j.lease, attempts = attempts + j.s,
    deadline_at = CASE WHEN j.s THEN j.deadline ELSE deadline_at END,
    started_at = CASE WHEN j.s THEN COALESCE(started_at, j.now) ELSE started_at END,
    progress = CASE WHEN j.s THEN NULL ELSE progress END
  FROM j WHERE requests.id = j.id AND requests.state = 'PENDING' RETURNING *`;

const currentRows = (values: string): string =>
  `WITH j(id) AS (VALUES ${values}) SELECT id, state, lease_token, client_id, period, hold_nano, usage, cost_nano FROM requests WHERE id IN (SELECT id FROM j)`;

const completeRows = (values: string): string => `WITH j(id, token, now, output, progress, optimization, usage, cost, overuse) AS (VALUES ${values})
  UPDATE requests SET
    state = 'COMPLETED', updated_at = j.now, output = j.output, error = NULL, completed_at = j.now, progress = j.progress,
    optimization = COALESCE(j.optimization, requests.optimization), usage = j.usage, cost_nano = j.cost, overuse = COALESCE(j.overuse, requests.overuse),
    reserved = NULL, lease_owner = NULL, lease_expires_at = NULL
  FROM j WHERE requests.id = j.id AND requests.state = 'RUNNING' AND requests.lease_token = j.token RETURNING *`;

const SETTLE_BUDGET = 'UPDATE budgets SET held_nano = MAX(0, held_nano - ?), spent_nano = spent_nano + ? WHERE client_id = ? AND period = ?';

/** PENDING → PREPARING (→ RUNNING with `start`) for each item; see lifecycle.ts claim. */
export function claimMany(c: SqliteCtx, items: readonly { readonly id: string; readonly opts: ClaimOptions }[]): (WorkRequest | null)[] {
  if (items.length === 0) return [];
  return c.tx(() => {
    const seen = new Set<string>();
    const rows = eachChunk(c, 7, items.flatMap(({ id, opts: o }): Val[][] => {
      if (seen.has(id)) return []; // The same request twice: the first claims it, the second finds it claimed.
      seen.add(id);
      return [[id, o.start ? 1 : 0, o.now, o.owner, JSON.stringify(o.reserved), o.start ? o.start.leaseExpiresAt : o.now + o.leaseMs, o.start?.deadlineAt ?? null]];
    }), claimRows);
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    const audits: AuditRow[] = [];
    const out = items.map(({ id, opts: o }) => {
      const r = byId.get(id);
      if (!r) return null;
      byId.delete(id);
      const client = r.client_id as string;
      const reserved = JSON.stringify({ reserved: o.reserved });
      audits.push([o.now, id, client, 'transition', 'PENDING', 'PREPARING', o.owner, reserved]);
      if (o.start) audits.push([o.now, id, client, 'transition', 'PREPARING', 'RUNNING', 'dispatcher', JSON.stringify({ attempt: Number(r.attempts) })]);
      return toRequest(r);
    });
    eachChunk(c, 8, audits, insertAudits);
    for (const r of out) if (r) c.countMove('PENDING', r.state);
    return out;
  });
}

/** RUNNING → COMPLETED for each item; see lifecycle.ts complete. */
export function completeMany(c: SqliteCtx, items: readonly { readonly id: string; readonly token: number; readonly opts: CompleteOptions }[]): (WorkRequest | null)[] {
  if (items.length === 0) return [];
  const packed = items.map((x) => packJson(x.opts.output, c.compressMin));
  return c.tx(() => {
    const current = new Map(eachChunk(c, 1, items.map((x) => [x.id]), currentRows).map((r) => [r.id as string, r]));
    const writes: Val[][] = [];
    const audits: AuditRow[] = [];
    /** Per client and period: [hold released, cost charged]. */
    const budgets = new Map<string, [number, number, string, string]>();
    const single = new Map<number, WorkRequest | null>();
    const taken = new Set<string>();
    items.forEach((x, i) => {
      const cur = current.get(x.id);
      if (!cur || taken.has(x.id) || movableFrom(cur, { from: ['RUNNING'], to: 'COMPLETED', token: x.token }) === null) return;
      taken.add(x.id);
      const p = packed[i] as string | Uint8Array;
      // Stored compressed: bytes do not travel in JSON, and the saving is recorded with it.
      if (typeof p !== 'string') return single.set(i, complete(c, x.id, x.token, x.opts));
      const s = x.opts.settlement;
      const set = settledColumns(cur, s, completedColumns({ output: p }, x.opts.now, x.opts.optimization));
      writes.push([x.id, x.token, x.opts.now, p, set.progress as string, (set.optimization as string | undefined) ?? null, set.usage as string, set.cost_nano as number, (set.overuse as string | undefined) ?? null]);
      audits.push([x.opts.now, x.id, cur.client_id as string, 'transition', 'RUNNING', 'COMPLETED', 'dispatcher', JSON.stringify(settledAuditData(cur, s, set))]);
      const key = `${cur.client_id as string}\n${cur.period as string}`;
      const b = budgets.get(key) ?? [0, 0, cur.client_id as string, cur.period as string];
      b[0] += Number(cur.hold_nano);
      b[1] += s.costNano;
      budgets.set(key, b);
    });
    const rows = eachChunk(c, 9, writes, completeRows);
    if (rows.length !== writes.length) throw new Error(`completeMany: ${writes.length} rows checked, ${rows.length} written`);
    for (const [release, charge, client, period] of budgets.values()) if (release !== 0 || charge !== 0) c.q(SETTLE_BUDGET).run(release, charge, client, period);
    eachChunk(c, 8, audits, insertAudits);
    for (let k = 0; k < rows.length; k++) c.countMove('RUNNING', 'COMPLETED');
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    return items.map((x, i) => {
      if (single.has(i)) return single.get(i) ?? null;
      const r = byId.get(x.id);
      if (!r) return null;
      byId.delete(x.id);
      return toRequest(r);
    });
  });
}
