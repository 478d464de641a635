/**
 * Budget arithmetic in nano-USD. `remaining = limit − spent − held`; a hold
 * is taken for the worst case at admission, in the same write as the check,
 * and settled (actual charged, hold released) when the request ends.
 */
import type { Nano } from './money.ts';

export interface BudgetState {
  /** null = no limit. */
  readonly limit: Nano | null;
  readonly spent: Nano;
  readonly held: Nano;
}

export function remaining(b: BudgetState): Nano {
  return b.limit === null ? Number.POSITIVE_INFINITY : b.limit - b.spent - b.held;
}

export function canHold(b: BudgetState, amount: Nano): boolean {
  return amount <= remaining(b);
}

export function hold(b: BudgetState, amount: Nano): BudgetState {
  return { ...b, held: b.held + amount };
}

/** Release `held` and charge `actual` (which may exceed the hold: overruns are charged). */
export function settle(b: BudgetState, held: Nano, actual: Nano): BudgetState {
  return { ...b, held: Math.max(0, b.held - held), spent: b.spent + actual };
}

const FORMATS = new Map<string, Intl.DateTimeFormat>();

/**
 * The budget period (calendar month) containing `now` in `timeZone`, as
 * 'YYYY-MM'. Periods change at local midnight on the 1st.
 */
export function periodOf(now: number, timeZone: string): string {
  // Months start on a whole minute in every time zone: the answer for a minute is the answer for all of it.
  const minute = Math.floor(now / 60_000);
  const key = `${timeZone}|${minute}`;
  if (key === lastKey) return lastPeriod;
  lastPeriod = computePeriod(now, timeZone);
  lastKey = key;
  return lastPeriod;
}

let lastKey = '';
let lastPeriod = '';

function computePeriod(now: number, timeZone: string): string {
  let fmt = FORMATS.get(timeZone);
  if (!fmt) {
    // Building a DateTimeFormat costs ~100 µs; admission asks for every request.
    fmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit' });
    FORMATS.set(timeZone, fmt);
  }
  const parts = fmt.formatToParts(new Date(now));
  const y = parts.find((p) => p.type === 'year')?.value ?? '1970';
  const m = parts.find((p) => p.type === 'month')?.value ?? '01';
  return `${y}-${m}`;
}
