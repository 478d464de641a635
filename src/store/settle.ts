/**
 * What the end of an attempt writes, from the request's row as read: the
 * columns (usage summed with what went before, cost added, lease and
 * reservation cleared) and the audit row's data (cost, usage, units given
 * back, an overrun beyond the hold, overuse, the error). The same for every
 * store and for one end or a batch of them. Pure.
 */
import { sumUsage } from '../core/cost.ts';
import type { Settlement } from './store.ts';

type Cur = Readonly<Record<string, unknown>>;

/** The columns an end sets beyond `set` (its own: output or error, times). */
export function settledColumns<V>(cur: Cur, s: Settlement, set: Readonly<Record<string, V>>): Record<string, V | string | number | null> {
  return {
    ...set, usage: JSON.stringify(sumUsage(cur.usage ? (JSON.parse(cur.usage as string) as Settlement['usage']) : null, s.usage)),
    cost_nano: Number(cur.cost_nano) + s.costNano, reserved: null, lease_owner: null, lease_expires_at: null,
    ...(s.overuse ? { overuse: JSON.stringify(s.overuse) } : {}),
  };
}

/** The end's audit data. A worker that used more than it was allowed costs more than the hold: charged, and recorded here. */
export function settledAuditData(cur: Cur, s: Settlement, set: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const overrun = Number(cur.cost_nano) + s.costNano - Number(cur.hold_nano);
  return {
    cost_nano: s.costNano, usage: s.usage, returned: s.returned, ...(overrun > 0 ? { overrun_nano: overrun } : {}), ...(s.overuse ? { overuse: s.overuse } : {}),
    ...(set.error ? { error: JSON.parse(set.error as string) as unknown } : {}),
  };
}

/** The columns a completion sets of its own (`output`: the packed output, or the store's columns for it). */
export function completedColumns<V>(output: Readonly<Record<string, V>>, now: number, optimization: unknown): Record<string, V | string | number | null> {
  return {
    ...output, error: null, completed_at: now,
    progress: JSON.stringify({ percent: 100, message: 'completed', at: now }),
    ...(optimization ? { optimization: JSON.stringify(optimization) } : {}),
  };
}
