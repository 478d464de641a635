/**
 * Typed events, named noun:verb. Metrics, logs, the execute-waiters, the
 * progress streams, health, shadow mode and alerts subscribe here instead of
 * being called from the middle of business logic.
 */
import { EventEmitter } from 'node:events';
import type { AlertRecord } from './core/alert-state.ts';
import type { BreakerState } from './core/breaker.ts';
import type { Overuse, RequestError, WorkRequest } from './model.ts';

export interface EventMap {
  'request:accepted': [req: WorkRequest];
  'request:claimed': [req: WorkRequest];
  'request:started': [req: WorkRequest, dispatchDelayMs: number];
  'request:progress': [id: string, percent: number, message: string | undefined];
  'request:completed': [req: WorkRequest, durationMs: number];
  'request:retrying': [req: WorkRequest, error: RequestError];
  'request:failed': [req: WorkRequest];
  'request:cancelled': [req: WorkRequest];
  'request:stale-result': [id: string, token: number];
  /**
   * Another instance changed a request (scale-out mode): `req` as re-read from
   * the shared store. Waiters and streams follow it; metrics do not (the
   * instance that made the change counted it).
   */
  'request:changed': [req: WorkRequest];
  /** A worker reported usage beyond what the job allowed (charged as reported, flagged on the request). */
  'request:overuse': [id: string, overuse: Overuse];
  'bucket:throttled': [resource: string, needed: number, waitMs: number];
  'worker:error': [worker: string, error: RequestError];
  /** A pipeline stage's worker answered (a single-worker request's answer is 'request:completed'). */
  'worker:answered': [worker: string];
  /** A worker's circuit breaker changed state (src/workers/health.ts); not 'open' = may get work again. */
  'worker:breaker': [worker: string, state: BreakerState, reason: string];
  /** A health probe found that a worker whose transport was detected now speaks another protocol. */
  'worker:transport': [worker: string, from: string, to: string];
  'scheduler:pass': [durationMs: number, started: number];
  /** An alert started firing, its severity rose, or its condition stopped holding (src/service/alert-monitor.ts). */
  'alert:fired': [alert: AlertRecord];
  'alert:escalated': [alert: AlertRecord];
  'alert:resolved': [alert: AlertRecord];
  'admin:action': [action: string, data: Record<string, unknown>];
  /** Scaled out: what an admin changed through another instance was re-read here and changed something (the dashboard's push channel shows it). */
  'admin:reloaded': [what: string];
}

export class Events extends EventEmitter<EventMap> {
  constructor() {
    super();
    // Waiters on /api/execute subscribe per request; many may wait at once.
    this.setMaxListeners(0);
  }
}
