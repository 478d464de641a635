/**
 * Alerts with a firing/resolved state (SPEC section 8), as a pure step: the
 * alerts open now and the conditions that hold now go in, what changed comes
 * out. An alert is one condition on one subject (`kind` + `subject`): it
 * fires when its condition starts to hold, stays open (its message and value
 * kept current) while it holds, escalates when its severity rises, and
 * resolves when it no longer holds.
 */

export type AlertKind = 'pool_low' | 'budget_high' | 'queue_backup' | 'request_starving' | 'worker_unhealthy' | 'worker_overuse';
export type Severity = 'warning' | 'critical';

/** A condition that holds now. */
export interface AlertCondition {
  readonly kind: AlertKind;
  readonly severity: Severity;
  readonly subject: string;
  readonly message: string;
  readonly value: number;
}

/** An alert as stored: open (firing) until `resolvedAt` is set. */
export interface AlertRecord extends AlertCondition {
  readonly id: number;
  readonly firedAt: number;
  readonly updatedAt: number;
  readonly resolvedAt: number | null;
}

export interface AlertChanges {
  readonly fire: readonly AlertCondition[];
  /** Open alerts whose condition holds still, with what it says now; `escalated` when the severity rose. */
  readonly update: readonly { readonly open: AlertRecord; readonly now: AlertCondition; readonly escalated: boolean }[];
  readonly resolve: readonly AlertRecord[];
}

export const alertKey = (a: { readonly kind: string; readonly subject: string }): string => `${a.kind}\u0000${a.subject}`;

const RANK: Readonly<Record<Severity, number>> = { warning: 0, critical: 1 };

export function alertChanges(open: readonly AlertRecord[], current: readonly AlertCondition[]): AlertChanges {
  const byKey = new Map(open.map((a) => [alertKey(a), a]));
  const seen = new Set<string>();
  const fire: AlertCondition[] = [];
  const update: { open: AlertRecord; now: AlertCondition; escalated: boolean }[] = [];
  for (const c of current) {
    const k = alertKey(c);
    if (seen.has(k)) continue; // One alert per condition and subject.
    seen.add(k);
    const o = byKey.get(k);
    if (!o) fire.push(c);
    else if (o.severity !== c.severity || o.message !== c.message || o.value !== c.value) update.push({ open: o, now: c, escalated: RANK[c.severity] > RANK[o.severity] });
  }
  const resolve = open.filter((o) => !seen.has(alertKey(o)));
  return { fire, update, resolve };
}
