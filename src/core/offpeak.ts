/**
 * When deferred work may run: inside a configured off-peak window, or when
 * utilization has been low for a while.
 *
 * Windows are evaluated on local wall-clock time in the policy's time zone.
 * A window is the half-open range [start, end) of local minutes; `end <= start`
 * means it crosses midnight, and `end == start` means a full 24 hours. `days`
 * names the weekday a window STARTS on, so a Friday 22:00-06:00 window covers
 * Friday 22:00 → Saturday 05:59:59.999 and not the early hours of Friday.
 * Across DST changes only the wall clock counts: a 01:00-03:00 window on a
 * spring-forward night is an hour shorter, on a fall-back night an hour longer,
 * and a window lying wholly inside the skipped hour does not open at all.
 *
 * Pure: no I/O, no Date.now(); time comes in as epoch milliseconds.
 */

export interface OffPeakWindow {
  /** Local opening time, 'HH:MM' (00:00-23:59), inclusive. */
  readonly start: string;
  /** Local closing time, 'HH:MM', exclusive. `<= start` crosses midnight; `== start` is a whole day. */
  readonly end: string;
  /** Weekdays the window starts on, 0 = Sunday … 6 = Saturday. Default: every day. */
  readonly days?: readonly number[];
}

export interface DeferredPolicy {
  readonly windows: readonly OffPeakWindow[];
  /** IANA zone the windows are written in, e.g. 'Europe/Berlin'. */
  readonly timeZone: string;
  /** Also allow deferred work once utilization (0..1) has been below `below` for `forMs` ms; null = windows only. */
  readonly lowUtilization: { readonly below: number; readonly forMs: number } | null;
}

export interface LowUtilState {
  /** Epoch ms at which the current uninterrupted run below the threshold began; null = not below now. */
  readonly since: number | null;
}

export type DeferredReason = 'off-peak window' | 'low utilization' | 'peak';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const DAY_MINUTES = 1440;
const ALL_DAYS = 0b111_1111;
/** How far nextWindowStart looks ahead. */
const SEARCH_MS = 8 * DAY_MS;

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after local midnight for 'HH:MM' (00:00-23:59). Throws an Error naming the value otherwise. */
export function parseClock(hhmm: string): number {
  const m = typeof hhmm === 'string' ? CLOCK.exec(hhmm) : null;
  if (!m) throw new Error(`invalid time of day ${JSON.stringify(hhmm)}: expected HH:MM from 00:00 to 23:59`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** True iff `now` falls inside any of `windows`, read on the wall clock of `timeZone`. Throws on a bad HH:MM or zone. */
export function inWindow(now: number, windows: readonly OffPeakWindow[], timeZone: string): boolean {
  if (windows.length === 0) return false;
  return inAny(wallOf(now, timeZone), compile(windows));
}

/**
 * The epoch ms at which a window next opens: `now` itself when already inside
 * one, otherwise the first later instant inside one (exact to the second a
 * time-zone offset changes, e.g. the end of a DST gap that lands inside a
 * window). Looks at most 8 days ahead; null if nothing opens by then (no
 * windows, or only windows with no days).
 */
export function nextWindowStart(now: number, windows: readonly OffPeakWindow[], timeZone: string): number | null {
  const compiled = compile(windows);
  if (compiled.every((w) => w.days === 0)) return null;
  const limit = now + SEARCH_MS;
  let t = now;
  // Each step lands on a window start or on an offset change: a handful of steps in practice.
  for (let step = 0; step < 64 && t <= limit; step++) {
    const wall = wallOf(t, timeZone);
    if (inAny(wall, compiled)) return t;
    const nextWall = nextStartWall(wall, compiled);
    if (nextWall === null) return null;
    const offset = wall - t;
    let next = t + (nextWall - wall);
    // With the offset unchanged the wall clock ran linearly, so nothing opened on the way.
    // (Two changes cancelling out within the jump are not a thing real zones do.)
    if (wallOf(next, timeZone) - next !== offset) next = firstOffsetChange(t, next, offset, timeZone);
    t = next;
  }
  return null;
}

/**
 * Fold one utilization sample (0..1) taken at `now` into the tracker. A sample
 * at or above `threshold` (or NaN) ends the run; time going backwards never
 * makes a run look longer (since moves back to `now`).
 */
export function observeUtilization(state: LowUtilState, utilization: number, now: number, threshold: number): LowUtilState {
  if (!(utilization < threshold)) return state.since === null ? state : { since: null };
  if (state.since === null || now < state.since) return { since: now };
  return state;
}

/** True iff utilization has been below the threshold for at least `minMs` ms as of `now`. */
export function lowForLong(state: LowUtilState, now: number, minMs: number): boolean {
  return state.since !== null && now - state.since >= minMs;
}

/**
 * Whether deferred work may run at `now`. A window wins over low utilization
 * in the reason. `lowUtil` must be fed with `policy.lowUtilization.below` as
 * its threshold.
 */
export function deferredAllowed(
  policy: DeferredPolicy,
  lowUtil: LowUtilState,
  now: number,
): { allowed: boolean; reason: DeferredReason } {
  if (inWindow(now, policy.windows, policy.timeZone)) return { allowed: true, reason: 'off-peak window' };
  const low = policy.lowUtilization;
  if (low !== null && lowForLong(lowUtil, now, low.forMs)) return { allowed: true, reason: 'low utilization' };
  return { allowed: false, reason: 'peak' };
}

const WINDOW_KEYS = new Set(['start', 'end', 'days']);

/** Problems with a configured window list, one human message each, naming the field; [] if fine. */
export function validateWindows(windows: unknown): string[] {
  if (!Array.isArray(windows)) return [`windows: expected an array of {start, end, days?}, got ${describe(windows)}`];
  const errors: string[] = [];
  windows.forEach((w: unknown, i) => {
    const at = `windows[${i}]`;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) {
      errors.push(`${at}: expected an object {start, end, days?}, got ${describe(w)}`);
      return;
    }
    const rec = w as Record<string, unknown>;
    for (const key of ['start', 'end']) {
      const v = rec[key];
      if (v === undefined) errors.push(`${at}.${key}: is required (HH:MM)`);
      else if (typeof v !== 'string' || !CLOCK.test(v)) errors.push(`${at}.${key}: ${describe(v)} is not HH:MM`);
    }
    const days = rec['days'];
    if (days !== undefined) {
      if (!Array.isArray(days)) errors.push(`${at}.days: expected an array of days 0-6, got ${describe(days)}`);
      else if (days.length === 0) errors.push(`${at}.days: is empty, so the window never opens (omit it for every day)`);
      else
        days.forEach((d: unknown, j) => {
          if (!Number.isInteger(d) || (d as number) < 0 || (d as number) > 6)
            errors.push(`${at}.days[${j}]: ${describe(d)} is not a day 0-6`);
        });
    }
    for (const key of Object.keys(rec))
      if (!WINDOW_KEYS.has(key)) errors.push(`${at}.${key}: unknown field (expected start, end, days)`);
  });
  return errors;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v) ?? typeof v;
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

// ---- internals ------------------------------------------------------------

interface Compiled {
  /** Minutes after local midnight. */
  readonly start: number;
  /** Length in minutes, 1..1440. */
  readonly length: number;
  /** Bit d set = the window starts on weekday d. */
  readonly days: number;
}

function compile(windows: readonly OffPeakWindow[]): Compiled[] {
  return windows.map((w) => {
    const start = parseClock(w.start);
    const end = parseClock(w.end);
    let days = ALL_DAYS;
    if (w.days !== undefined) {
      days = 0;
      for (const d of w.days) if (Number.isInteger(d) && d >= 0 && d <= 6) days |= 1 << d;
    }
    return { start, length: end > start ? end - start : end - start + DAY_MINUTES, days };
  });
}

/** Whether wall-clock ms `wall` (see wallOf) lies inside any window. */
function inAny(wall: number, windows: readonly Compiled[]): boolean {
  const day = Math.floor(wall / DAY_MS);
  const minute = Math.floor((wall - day * DAY_MS) / MINUTE_MS);
  const weekday = weekdayOf(day);
  for (const w of windows) {
    // Today's occurrence, then the one that started yesterday and may run past midnight.
    if (w.days & (1 << weekday) && minute >= w.start && minute < w.start + w.length) return true;
    const prev = (weekday + 6) % 7;
    if (w.days & (1 << prev) && minute + DAY_MINUTES < w.start + w.length) return true;
  }
  return false;
}

/** The earliest window opening strictly after `wall` (wall-clock ms), or null if the windows have no days. */
function nextStartWall(wall: number, windows: readonly Compiled[]): number | null {
  const today = Math.floor(wall / DAY_MS);
  let best: number | null = null;
  for (const w of windows) {
    for (let k = 0; k <= 7; k++) {
      if (!(w.days & (1 << weekdayOf(today + k)))) continue;
      const at = (today + k) * DAY_MS + w.start * MINUTE_MS;
      if (at > wall) {
        if (best === null || at < best) best = at;
        break;
      }
    }
  }
  return best;
}

/** 1970-01-01 was a Thursday. */
function weekdayOf(epochDay: number): number {
  return (((epochDay + 4) % 7) + 7) % 7;
}

/** The first instant in (from, to] whose offset differs from `offset`, given that `to`'s does. Offsets change on whole seconds. */
function firstOffsetChange(from: number, to: number, offset: number, timeZone: string): number {
  let lo = from;
  let hi = to;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallOf(mid, timeZone) - mid === offset) lo = mid;
    else hi = mid;
  }
  // Land on the whole second where the change happens, if it lies in (lo, hi].
  const sec = Math.ceil((lo + 1) / 1000) * 1000;
  return sec <= hi && wallOf(sec, timeZone) - sec !== offset ? sec : hi;
}

interface ZoneCache {
  readonly fmt: Intl.DateTimeFormat;
  second: number;
  offset: number;
}

const ZONES = new Map<string, ZoneCache>();

/**
 * Wall-clock milliseconds: the local date and time of `now` in `timeZone`,
 * read as if it were UTC, so weekday and minute of day follow by plain
 * arithmetic. Throws RangeError on an unknown zone.
 */
function wallOf(now: number, timeZone: string): number {
  let z = ZONES.get(timeZone);
  if (!z) {
    // Building a DateTimeFormat costs ~100 µs; formatting ~4 µs, so the last second's offset is kept too.
    const fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    z = { fmt, second: Number.NaN, offset: 0 };
    ZONES.set(timeZone, z);
  }
  const second = Math.floor(now / 1000);
  if (second !== z.second) {
    const f: Record<string, number> = {};
    for (const p of z.fmt.formatToParts(new Date(second * 1000))) if (p.type !== 'literal') f[p.type] = Number(p.value);
    const local = Date.UTC(f['year'] ?? 1970, (f['month'] ?? 1) - 1, f['day'] ?? 1, (f['hour'] ?? 0) % 24, f['minute'] ?? 0, f['second'] ?? 0);
    z.second = second;
    z.offset = local - second * 1000;
  }
  return now + z.offset;
}
