/**
 * Alerts with firing/resolved state (SPEC section 8): the conditions
 * (alerts.ts) are checked every `intervalMs` and whenever an operator asks;
 * what changed (core/alert-state.ts) is written to the store, announced on
 * the event bus and sent to the webhook, if there is one. Checks never
 * overlap: a check asked for while one runs shares its result.
 *
 * Scaled out, only the scheduling instance checks (`lead`): the conditions
 * are read from its queue and its worker probes, and one instance alone
 * decides what fires, so a webhook is sent once, not once per instance.
 * Elsewhere `check()` answers with the alerts the leader recorded.
 */
import type { Logger } from 'pino';
import { alertChanges, type AlertCondition, type AlertRecord } from '../core/alert-state.ts';
import type { Clock } from '../core/clock.ts';
import type { Events } from '../events.ts';
import type { Store } from '../store/store.ts';
import type { Webhook } from './webhook.ts';

export interface AlertMonitorDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly events: Events;
  readonly log: Logger;
  /** The conditions that hold now. */
  readonly conditions: () => Promise<AlertCondition[]>;
  readonly webhook: Webhook | null;
}

/** An alert as the API and the webhook show it. */
export function alertView(a: AlertRecord) {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: a.id, kind: a.kind, severity: a.severity, subject: a.subject, message: a.message, value: a.value,
    state: a.resolvedAt === null ? 'firing' : 'resolved', fired_at: iso(a.firedAt), updated_at: iso(a.updatedAt), resolved_at: iso(a.resolvedAt),
  };
}

export class AlertMonitor {
  readonly #d: AlertMonitorDeps;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<AlertRecord[]> | undefined;
  #stopped = false;
  #leading = true;

  constructor(d: AlertMonitorDeps, o: { intervalMs: number }) {
    this.#d = d;
    this.#intervalMs = o.intervalMs;
  }

  /** Check every interval from now on. `leading` false: another instance checks; this one only reads (see `lead`). */
  start(leading = true): void {
    this.#leading = leading;
    if (this.#timer || this.#stopped || !leading) return;
    this.#timer = setInterval(() => void this.check().catch((err: unknown) => this.#d.log.error({ err }, 'alert check failed')), this.#intervalMs);
    this.#timer.unref();
    void this.check().catch((err: unknown) => this.#d.log.error({ err }, 'alert check failed'));
  }

  /** Scaled out: checks run on the instance that schedules, and stop when it no longer does. */
  lead(on: boolean): void {
    if (on) return this.start(true);
    this.#leading = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
    await this.#d.webhook?.stop();
  }

  /** Check now; the alerts firing afterwards, oldest first. */
  check(): Promise<AlertRecord[]> {
    if (!this.#leading) return this.#d.store.openAlerts();
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<AlertRecord[]> {
    const { store, clock, events, webhook } = this.#d;
    const [open, current] = await Promise.all([store.openAlerts(), this.#d.conditions()]);
    const ch = alertChanges(open, current);
    const now = clock.now();
    for (const c of ch.fire) {
      const a = await store.fireAlert(c, now);
      events.emit('alert:fired', a);
      webhook?.send('alert.firing', { alert: alertView(a) });
    }
    for (const u of ch.update) {
      const a = await store.updateAlert(u.open.id, u.now, now);
      if (!a || !u.escalated) continue;
      events.emit('alert:escalated', a);
      webhook?.send('alert.escalated', { alert: alertView(a) });
    }
    for (const o of ch.resolve) {
      const a = await store.resolveAlert(o.id, now);
      if (!a) continue;
      events.emit('alert:resolved', a);
      webhook?.send('alert.resolved', { alert: alertView(a) });
    }
    if (ch.fire.length + ch.update.length + ch.resolve.length === 0) return open;
    return store.openAlerts();
  }
}
