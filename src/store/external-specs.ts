/**
 * What the legacy v2 orchestrator reported, as transition specs
 * (transition-spec.ts): v2 took a request (PENDING → PREPARING → RUNNING, or
 * PREPARING → RUNNING), then finished or failed it. Pure; the SQLite and D1
 * stores carry them out with their own `transition`.
 */
import type { State } from '../core/states.ts';
import { packJson } from './sqlite/rows.ts';
import type { ExternalUpdate } from './store.ts';
import type { TransitionSpec, Val } from './transition-spec.ts';

const externalId = (u: ExternalUpdate): Record<string, Val> => (u.externalId ? { external_id: u.externalId } : {});

/** The legacy orchestrator took the request, which is in `state` (PENDING or PREPARING). */
export function externalStartSpec(state: 'PENDING' | 'PREPARING', u: ExternalUpdate): TransitionSpec {
  return {
    from: [state], ...(state === 'PENDING' ? { via: { state: 'PREPARING' as State, actor: u.actor } } : {}), to: 'RUNNING', token: null, now: u.now, actor: u.actor,
    set: (row) => ({ ...externalId(u), attempts: Number(row.attempts) + 1, started_at: u.startedAt ?? u.now }), data: { system: 'v2', external_id: u.externalId ?? null },
  };
}

/** It finished (u.to COMPLETED) or failed a RUNNING request: the hold released, its cost charged. */
export function externalEndSpec(u: ExternalUpdate, compressMin: number): TransitionSpec {
  const cost = u.costNano ?? 0;
  return {
    from: ['RUNNING'], to: u.to, token: null, now: u.now, actor: u.actor, releaseHold: true, chargeNano: cost,
    set: (row) => ({
      ...externalId(u), completed_at: u.now, cost_nano: Number(row.cost_nano) + cost,
      ...(u.to === 'COMPLETED'
        ? { output: packJson(u.output, compressMin), error: null }
        : { error: JSON.stringify(u.error ?? { code: 'WORKER_ERROR', message: 'The legacy orchestrator reported a failure', retryable: false }) }),
      ...(u.usage ? { usage: JSON.stringify(u.usage) } : {}),
    }),
    data: { system: 'v2', cost_nano: cost, ...(u.error ? { error: u.error } : {}) },
  };
}
