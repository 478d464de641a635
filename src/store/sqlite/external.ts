/**
 * Requests the legacy v2 orchestrator executes (system 'v2'): Allot does not
 * run them, it follows them. updateExternal applies what v2 reported (taken,
 * running, finished or failed) through the same transitions, so budgets,
 * audit and counts stay as for Allot's own requests.
 */
import type { State } from '../../core/states.ts';
import type { WorkRequest } from '../../model.ts';
import type { ExternalUpdate } from '../store.ts';
import type { Row, SqliteCtx, Val } from './context.ts';
import { transition } from './transition.ts';
import { packJson } from './rows.ts';

const SELECT_SYSTEM_STATE = 'SELECT system, state FROM requests WHERE id = ?';

/** Null when the request is not a v2 one, or the update does not fit its state. */
export function updateExternal(c: SqliteCtx, id: string, u: ExternalUpdate): WorkRequest | null {
  return c.tx(() => {
    const cur = c.q(SELECT_SYSTEM_STATE).get(id) as Row | undefined;
    if (!cur || cur.system !== 'v2') return null;
    const ext: Record<string, Val> = u.externalId ? { external_id: u.externalId } : {};
    // PENDING → PREPARING → RUNNING (or PREPARING → RUNNING, imported while v2 was building it): the legacy orchestrator took it.
    if (cur.state === 'PENDING' || cur.state === 'PREPARING') {
      const started = transition(c, id, {
        from: [cur.state], ...(cur.state === 'PENDING' ? { via: { state: 'PREPARING' as State, actor: u.actor } } : {}), to: 'RUNNING', token: null, now: u.now, actor: u.actor,
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
          ? { output: packJson(u.output, c.compressMin), error: null }
          : { error: JSON.stringify(u.error ?? { code: 'WORKER_ERROR', message: 'The legacy orchestrator reported a failure', retryable: false }) }),
        ...(u.usage ? { usage: JSON.stringify(u.usage) } : {}),
      }),
      data: { system: 'v2', cost_nano: cost, ...(u.error ? { error: u.error } : {}) },
    });
  });
}
