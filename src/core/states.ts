/**
 * The work-order state machine (SPEC section 3).
 *
 *   PENDING ──reserve──▶ PREPARING ──dispatch──▶ RUNNING ──▶ COMPLETED
 *      ▲                                            │  ├───▶ FAILED
 *      └──────── backoff ──── WAITING_RETRY ◀───────┘  
 *   PENDING, PREPARING, RUNNING, WAITING_RETRY ──▶ CANCELLED
 *
 * Two transitions exist only for recovery and are marked as such: a
 * PREPARING or RUNNING request whose lease expired goes to WAITING_RETRY
 * (RUNNING→WAITING_RETRY is already legal; PREPARING→WAITING_RETRY covers a
 * dispatcher that died between reserving and dispatching), and a PREPARING
 * request whose dispatch could not start goes back to PENDING.
 * A PREPARING request that can never be dispatched (e.g. its template or
 * worker was deleted) goes straight to FAILED.
 * Everything else is rejected by `assertTransition`.
 */
import { AllotError } from './errors.ts';

export const STATES = Object.freeze({
  PENDING: 'PENDING',
  PREPARING: 'PREPARING',
  RUNNING: 'RUNNING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  WAITING_RETRY: 'WAITING_RETRY',
  CANCELLED: 'CANCELLED',
} as const);

export type State = (typeof STATES)[keyof typeof STATES];

const TRANSITIONS: Readonly<Record<State, readonly State[]>> = Object.freeze({
  PENDING: ['PREPARING', 'CANCELLED'],
  PREPARING: ['RUNNING', 'PENDING', 'WAITING_RETRY', 'FAILED', 'CANCELLED'],
  RUNNING: ['COMPLETED', 'FAILED', 'WAITING_RETRY', 'CANCELLED'],
  WAITING_RETRY: ['PENDING', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
});

export const TERMINAL_STATES: ReadonlySet<State> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
export const CANCELLABLE_STATES: readonly State[] = ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY'];

export function isState(s: string): s is State {
  return Object.hasOwn(TRANSITIONS, s);
}

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws CONFLICT naming both states when the transition is not in the table. */
export function assertTransition(from: State, to: State): void {
  if (!canTransition(from, to)) {
    throw new AllotError('CONFLICT', `Illegal transition ${from} → ${to}`, { details: { from, to } });
  }
}

export function isTerminal(s: State): boolean {
  return TERMINAL_STATES.has(s);
}
