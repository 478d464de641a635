/**
 * Requests the legacy v2 orchestrator executes (system 'v2'): Allot does not
 * run them, it follows them. updateExternal applies what v2 reported (taken,
 * running, finished or failed) through the same transitions, so budgets,
 * audit and counts stay as for Allot's own requests.
 */
import type { WorkRequest } from '../../model.ts';
import { externalEndSpec, externalStartSpec } from '../external-specs.ts';
import type { ExternalUpdate } from '../store.ts';
import type { Row, SqliteCtx } from './context.ts';
import { transition } from './transition.ts';

export const SELECT_SYSTEM_STATE = 'SELECT system, state FROM requests WHERE id = ?';

/** Null when the request is not a v2 one, or the update does not fit its state. */
export function updateExternal(c: SqliteCtx, id: string, u: ExternalUpdate): WorkRequest | null {
  return c.tx(() => {
    const cur = c.q(SELECT_SYSTEM_STATE).get(id) as Row | undefined;
    if (!cur || cur.system !== 'v2') return null;
    if (cur.state === 'PENDING' || cur.state === 'PREPARING') {
      const started = transition(c, id, externalStartSpec(cur.state, u));
      if (!started || u.to === 'RUNNING') return started;
    } else if (u.to === 'RUNNING') return null;
    return transition(c, id, externalEndSpec(u, c.compressMin));
  });
}
