/**
 * Taking back requests whose lease ran out (or, on takeover, whose owner is
 * another process): each goes to WAITING_RETRY to run again, or to FAILED
 * once it has used its attempts or recoveries.
 */
import type { WorkRequest } from '../../model.ts';
import { leaseRecovery } from '../lease-recovery.ts';
import { DEFAULT_MAX_RECOVERIES, type ReapOptions } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { transition } from './transition.ts';

export const SELECT_EXPIRED =
  "SELECT id, attempts, max_attempts, state, lease_owner, recoveries FROM requests WHERE state IN ('PREPARING', 'RUNNING') AND system = 'allot' AND (lease_expires_at < :now OR (:foreign = 1 AND lease_owner IS NOT :self))";

export function reapExpiredLeases(c: SqliteCtx, now: number, opts: ReapOptions): WorkRequest[] {
  const self = opts.self ?? null;
  const maxRecoveries = opts.maxRecoveries ?? DEFAULT_MAX_RECOVERIES;
  const rows = c.q(SELECT_EXPIRED).all({ now, self, foreign: opts.takeForeign && self !== null ? 1 : 0 }) as Row[];
  const out: WorkRequest[] = [];
  for (const r of rows) {
    const x = leaseRecovery(r, now, self, maxRecoveries);
    const res = transition(c, r.id as string, { from: ['PREPARING', 'RUNNING'], to: x.to, token: null, now, actor: 'reaper', releaseHold: x.releaseHold, set: x.set, data: x.data });
    if (res) out.push(res);
  }
  return out;
}
