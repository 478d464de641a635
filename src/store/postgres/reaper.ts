/**
 * Taking back leases whose holder is gone or late (see Store.reapExpiredLeases):
 * expired ones, and with `takeOrphaned` those of an instance whose heartbeat
 * in `cluster_instances` expired (src/cluster/instances.ts).
 *
 * Several instances reap the same database. The candidates are selected and
 * locked in one statement with FOR UPDATE SKIP LOCKED: a row another reaper
 * (or any transition) holds is skipped, not waited for, so each expired
 * lease is taken back by one instance only, and a reaper never stalls behind
 * a dispatcher. Rows are locked in (client, period, id) order, so two reapers
 * lock budget rows in the same order and cannot deadlock.
 */
import type { WorkRequest } from '../../model.ts';
import { leaseRecovery } from '../lease-recovery.ts';
import { DEFAULT_MAX_RECOVERIES, type ReapOptions } from '../store.ts';
import type { PgCtx } from './context.ts';
import { transition } from './transition.ts';

const CANDIDATES = `SELECT id, attempts, max_attempts, state, lease_owner, recoveries FROM requests
  WHERE state IN ('PREPARING', 'RUNNING') AND system = 'allot'
    AND (lease_expires_at < $1 OR ($2::boolean AND lease_owner IS DISTINCT FROM $3::text)
      OR ($4::boolean AND lease_owner IS DISTINCT FROM $3::text
        AND NOT EXISTS (SELECT 1 FROM cluster_instances ci WHERE ci.id = requests.lease_owner AND ci.expires_at > now())))
  ORDER BY client_id, period, id
  FOR UPDATE SKIP LOCKED`;

export async function reapExpiredLeases(c: PgCtx, now: number, opts: ReapOptions = {}): Promise<WorkRequest[]> {
  const self = opts.self ?? null;
  const maxRecoveries = opts.maxRecoveries ?? DEFAULT_MAX_RECOVERIES;
  const rows = await c.q(CANDIDATES, [now, Boolean(opts.takeForeign) && self !== null, self, Boolean(opts.takeOrphaned) && self !== null]);
  const out: WorkRequest[] = [];
  for (const r of rows) {
    const x = leaseRecovery(r, now, self, maxRecoveries);
    const res = await transition(c, r.id as string, { from: ['PREPARING', 'RUNNING'], to: x.to, token: null, now, actor: 'reaper', releaseHold: x.releaseHold, set: x.set, data: x.data });
    if (res) out.push(res);
  }
  return out;
}
