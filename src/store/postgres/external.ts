/**
 * Requests the legacy v2 orchestrator executes (system 'v2'): Allot tracks
 * them, charging their cost and releasing their hold when v2 reports the end.
 */
import type { State } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import type { ExternalUpdate } from '../store.ts';
import { packJson } from '../sqlite/rows.ts';
import { one, type PgCtx, type Val } from './context.ts';
import { payloadColumns } from './rows.ts';
import { transition } from './transition.ts';

export async function updateExternal(c: PgCtx, id: string, u: ExternalUpdate): Promise<WorkRequest | null> {
  // Locked for the whole update: the two transitions below are one move as seen from outside.
  const cur = await one(c, 'SELECT system, state FROM requests WHERE id = $1 FOR UPDATE', [id]);
  if (!cur || cur.system !== 'v2') return null;
  const ext: Record<string, Val> = u.externalId ? { external_id: u.externalId } : {};
  // PENDING → PREPARING → RUNNING (or PREPARING → RUNNING, imported while v2 was building it): the legacy orchestrator took it.
  if (cur.state === 'PENDING' || cur.state === 'PREPARING') {
    const from = cur.state as State;
    const started = await transition(c, id, {
      from: [from], ...(from === 'PENDING' ? { via: { state: 'PREPARING' as State, actor: u.actor } } : {}), to: 'RUNNING', token: null, now: u.now, actor: u.actor,
      set: (row) => ({ ...ext, attempts: Number(row.attempts) + 1, started_at: u.startedAt ?? u.now }), data: { system: 'v2', external_id: u.externalId ?? null },
    });
    if (!started || u.to === 'RUNNING') return started;
  } else if (u.to === 'RUNNING') return null;
  const cost = u.costNano ?? 0;
  return transition(c, id, {
    from: ['RUNNING'], to: u.to, token: null, now: u.now, actor: u.actor, releaseHold: true, chargeNano: cost,
    set: (row) => ({
      ...ext, completed_at: u.now, cost_nano: Number(row.cost_nano) + cost,
      ...(u.to === 'COMPLETED'
        ? { ...payloadColumns('output', packJson(u.output, c.compressMin)), error: null }
        : { error: JSON.stringify(u.error ?? { code: 'WORKER_ERROR', message: 'The legacy orchestrator reported a failure', retryable: false }) }),
      ...(u.usage ? { usage: JSON.stringify(u.usage) } : {}),
    }),
    data: { system: 'v2', cost_nano: cost, ...(u.error ? { error: u.error } : {}) },
  });
}
