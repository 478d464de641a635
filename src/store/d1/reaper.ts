/**
 * Taking back requests whose lease ran out (or, on takeover, whose owner is
 * another process), on D1: each goes to WAITING_RETRY to run again, or to
 * FAILED once it has used its attempts or recoveries, decided on the row as
 * read; if it changed since (a heartbeat, its end), it is left alone.
 */
import type { WorkRequest } from '../../model.ts';
import { leaseRecovery } from '../lease-recovery.ts';
import { SELECT_EXPIRED } from '../sqlite/reaper.ts';
import { DEFAULT_MAX_RECOVERIES, type ReapOptions } from '../store.ts';
import type { D1Ctx } from './context.ts';
import { transition } from './transition.ts';

/** SQLite's query with D1's numbered parameters, and the row version the decision is made on. */
const EXPIRED = SELECT_EXPIRED.replace('SELECT id,', 'SELECT id, rev,').replaceAll(':now', '?1').replaceAll(':foreign', '?2').replaceAll(':self', '?3');

export async function reapExpiredLeases(c: D1Ctx, now: number, opts: ReapOptions): Promise<WorkRequest[]> {
  const self = opts.self ?? null;
  const maxRecoveries = opts.maxRecoveries ?? DEFAULT_MAX_RECOVERIES;
  const rows = await c.all(EXPIRED, now, opts.takeForeign && self !== null ? 1 : 0, self);
  const out: WorkRequest[] = [];
  for (const r of rows) {
    const x = leaseRecovery(r, now, self, maxRecoveries);
    const res = await transition(c, r.id as string, { from: ['PREPARING', 'RUNNING'], to: x.to, token: null, now, actor: 'reaper', releaseHold: x.releaseHold, set: x.set, data: x.data }, undefined, Number(r.rev));
    if (res) out.push(res);
  }
  return out;
}
