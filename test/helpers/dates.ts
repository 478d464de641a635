/**
 * Fake clocks for tests that need a time of day, a weekday or the first of a
 * month: the next such instant after the real time now, never a date pinned
 * in the code, so that no test depends on the day it runs (issue 9: tests
 * pinned to 2026-11-23 failed from the next day on).
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The first instant after `from` (default: now) at `hour:minute:second` UTC,
 * on UTC weekday `weekday` (0 = Sunday) when given, or on day `dayOfMonth`
 * of a month when given, at least `afterMs` later than `from` (default 1 day).
 */
export function nextUtc(o: { hour: number; minute?: number; second?: number; weekday?: number; dayOfMonth?: number; from?: number; afterMs?: number }): number {
  const from = (o.from ?? Date.now()) + (o.afterMs ?? DAY);
  const d = new Date(from);
  let t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), o.hour, o.minute ?? 0, o.second ?? 0);
  for (let i = 0; i < 800; i++, t += DAY) {
    const day = new Date(t);
    if (t < from) continue;
    if (o.weekday !== undefined && day.getUTCDay() !== o.weekday) continue;
    if (o.dayOfMonth !== undefined && day.getUTCDate() !== o.dayOfMonth) continue;
    return t;
  }
  throw new Error('nextUtc: no such day within 800 days');
}

/** `t` moved to `hour:minute:second` UTC on the same UTC day. */
export function sameDayUtc(t: number, hour: number, minute = 0, second = 0): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hour, minute, second);
}

/**
 * The next local midnight that starts a month in `timeZone`, at least a day
 * after `from` (default: now), and the periods ('YYYY-MM') it ends and begins.
 */
export function nextMonthStart(timeZone: string, from = Date.now()): { at: number; before: string; after: string } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const local = (t: number): Record<string, string> => Object.fromEntries(parts.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  // Local midnight on a 1st is within 14 hours of UTC midnight that day: try each quarter hour around it.
  for (let day = nextUtc({ hour: 0, dayOfMonth: 1, from }); ; day = nextUtc({ hour: 0, dayOfMonth: 1, from: day })) {
    for (let t = day - 14 * HOUR; t <= day + 14 * HOUR; t += HOUR / 4) {
      const l = local(t);
      if (l.day === '01' && l.hour === '00' && l.minute === '00') {
        const b = local(t - 1);
        return { at: t, before: `${b.year}-${b.month}`, after: `${l.year}-${l.month}` };
      }
    }
  }
}
