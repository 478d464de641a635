/**
 * Budget arithmetic in nano-USD, and budget periods. `remaining = limit −
 * spent − held`. A hold is taken for the worst case at admission and settled
 * (actual charged, hold released) when the request ends; both are done by
 * the store, in the same write as the check or the transition (SQL, so that
 * concurrent admissions cannot overspend), not here.
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
