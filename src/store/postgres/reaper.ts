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
    const running = r.state === 'RUNNING';
    // The live dispatcher's own lease ran out (its worker outlived the deadline): that attempt counts.
    // Any other owner is gone (Allot stopped or crashed): the attempt does not count, the recovery does.
    const counted = self !== null && r.lease_owner === self;
    const recoveries = Number(r.recoveries) + (counted ? 0 : 1);
    const exhausted = counted ? running && Number(r.attempts) >= Number(r.max_attempts) : recoveries > maxRecoveries;
    const error = counted
      ? { code: 'LEASE_EXPIRED', message: 'The worker did not answer before the lease ran out', retryable: true }
      : exhausted
        ? { code: 'LEASE_EXPIRED', message: `Allot stopped ${recoveries} times while running this request; given up after ${maxRecoveries} recoveries`, retryable: false }
        : { code: 'LEASE_EXPIRED', message: 'Allot stopped while running this request; it runs again (not counted as an attempt)', retryable: true };
    const res = await transition(c, r.id as string, {
      from: ['PREPARING', 'RUNNING'], to: exhausted ? 'FAILED' : 'WAITING_RETRY', token: null, now, actor: 'reaper',
      releaseHold: exhausted,
      set: {
        error: JSON.stringify(error), reserved: null, lease_owner: null, lease_expires_at: null, recoveries,
        ...(counted || !running ? {} : { attempts: Math.max(0, Number(r.attempts) - 1) }),
        ...(exhausted ? { completed_at: now } : { run_at: now }),
      },
      data: { reason: counted ? 'lease expired' : 'lease lost: its owner stopped', attempt_counted: counted, recoveries, owner: (r.lease_owner as string | null) ?? null },
    });
    if (res) out.push(res);
  }
  return out;
}
