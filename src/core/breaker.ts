/**
 * A circuit breaker (SPEC section 6: unhealthy or timing-out workers are
 * taken out of rotation), as pure functions of (breaker, event, policy, now).
 *
 *   closed ──failureThreshold consecutive failures of one kind──▶ open
 *   open ──cooldownMs elapsed──▶ half_open
 *   half_open ──a success──▶ closed
 *   half_open ──a failure──▶ open (the cool-down starts again)
 *
 * Failures are counted per kind of evidence ('probe', 'dispatch'): a worker
 * whose GET /health answers while its requests time out must still trip, so
 * one kind's successes reset only that kind's streak. In half_open a single
 * trial is handed out (`takeTrial`); a trial whose outcome never arrives
 * expires after a cool-down, so the breaker cannot stay stuck half open.
 *
 * Time may go backwards: an `openedAt` or `trialAt` later than `now` is
 * brought back to `now`, so a backwards step delays recovery by at most one
 * cool-down, never by the size of the step. Callers keep the breaker every
 * function here returns (`settle` and `takeTrial` included), so that the
 * re-anchoring sticks.
 */

export const BREAKER_STATES = Object.freeze({ CLOSED: 'closed', OPEN: 'open', HALF_OPEN: 'half_open' } as const);

export type BreakerState = (typeof BREAKER_STATES)[keyof typeof BREAKER_STATES];

const TRANSITIONS: Readonly<Record<BreakerState, readonly BreakerState[]>> = Object.freeze({
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
});

export interface BreakerPolicy {
  /** Consecutive failures of one kind that open the breaker. */
  readonly failureThreshold: number;
  /** How long an open breaker stays open before one trial is allowed, in ms. */
  readonly cooldownMs: number;
}

export interface Breaker {
  readonly state: BreakerState;
  /** Consecutive failures per kind while closed. */
  readonly streaks: Readonly<Record<string, number>>;
  /** When it last opened (ms since the epoch); null = never. */
  readonly openedAt: number | null;
  /** When the half-open trial was handed out; null = not handed out. */
  readonly trialAt: number | null;
}

export type BreakerEvent =
  | { readonly type: 'success'; readonly kind: string }
  | { readonly type: 'failure'; readonly kind: string }
  /** An operator asks for a trial now (probe now): an open breaker goes half open at once. */
  | { readonly type: 'force_trial' };

export const closedBreaker: Breaker = Object.freeze({ state: 'closed', streaks: Object.freeze({}), openedAt: null, trialAt: null });

function move(b: Breaker, to: BreakerState, patch: Partial<Breaker>): Breaker {
  if (!TRANSITIONS[b.state].includes(to)) throw new Error(`breaker: illegal transition ${b.state} → ${to}`);
  return { ...b, ...patch, state: to };
}

/** The breaker as time alone leaves it at `now`: cool-down over → half_open; an unanswered trial expired. */
export function settle(b: Breaker, policy: BreakerPolicy, now: number): Breaker {
  let out = b;
  if (out.openedAt !== null && out.openedAt > now) out = { ...out, openedAt: now };
  if (out.trialAt !== null && out.trialAt > now) out = { ...out, trialAt: now };
  if (out.state === 'open' && now - (out.openedAt ?? now) >= policy.cooldownMs) out = move(out, 'half_open', { trialAt: null });
  if (out.state === 'half_open' && out.trialAt !== null && now - out.trialAt >= policy.cooldownMs) out = { ...out, trialAt: null };
  return out;
}

/** Apply one outcome (or an operator's request for a trial). The one place transitions happen. */
export function step(b: Breaker, e: BreakerEvent, policy: BreakerPolicy, now: number): Breaker {
  const cur = settle(b, policy, now);
  switch (e.type) {
    case 'success':
      if (cur.state === 'half_open') return move(cur, 'closed', { streaks: {}, trialAt: null });
      if (cur.state === 'closed' && (cur.streaks[e.kind] ?? 0) > 0) return { ...cur, streaks: { ...cur.streaks, [e.kind]: 0 } };
      return cur; // Open: only the cool-down ends it.
    case 'failure': {
      if (cur.state === 'half_open') return move(cur, 'open', { openedAt: now, trialAt: null });
      if (cur.state === 'open') return cur;
      const n = (cur.streaks[e.kind] ?? 0) + 1;
      if (n >= policy.failureThreshold) return move(cur, 'open', { streaks: {}, openedAt: now, trialAt: null });
      return { ...cur, streaks: { ...cur.streaks, [e.kind]: n } };
    }
    case 'force_trial':
      return cur.state === 'open' ? move(cur, 'half_open', { trialAt: null }) : cur;
  }
}

/**
 * Ask to send work now. Closed: granted. Half open: granted once (the
 * trial) until its outcome arrives or it expires. Open: refused.
 */
export function takeTrial(b: Breaker, policy: BreakerPolicy, now: number): { breaker: Breaker; granted: boolean } {
  const cur = settle(b, policy, now);
  if (cur.state === 'closed') return { breaker: cur, granted: true };
  if (cur.state === 'half_open' && cur.trialAt === null) return { breaker: { ...cur, trialAt: now }, granted: true };
  return { breaker: cur, granted: false };
}

/** When an open breaker will next allow a trial (ms since the epoch); null unless open. */
export function reopensAt(b: Breaker, policy: BreakerPolicy, now: number): number | null {
  const cur = settle(b, policy, now);
  return cur.state === 'open' ? (cur.openedAt ?? now) + policy.cooldownMs : null;
}
