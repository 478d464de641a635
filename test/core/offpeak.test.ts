import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  deferredAllowed,
  inWindow,
  lowForLong,
  nextWindowStart,
  observeUtilization,
  parseClock,
  validateWindows,
  type DeferredPolicy,
  type LowUtilState,
  type OffPeakWindow,
} from '../../src/core/offpeak.ts';
import { DAY, HOUR, MINUTE } from '../../src/core/clock.ts';

const at = (iso: string): number => {
  const t = Date.parse(iso);
  assert.ok(Number.isFinite(t), iso);
  return t;
};
const win = (start: string, end: string, days?: number[]): OffPeakWindow =>
  days === undefined ? { start, end } : { start, end, days };

// 2026-01-02 is a Friday; 2026-01-01 a Thursday; 2026-01-03 a Saturday.
const FRI = 5;
const SAT = 6;

// ---- brute-force reference ----------------------------------------------------

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham', 'America/Sao_Paulo'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const refFormats = new Map<string, Intl.DateTimeFormat>();

/** Local weekday and minute of day, read from a differently configured formatter's text. */
function refLocal(t: number, zone: string): { weekday: number; minute: number } {
  let f = refFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    refFormats.set(zone, f);
  }
  const m = /^(\w+) (\d\d):(\d\d)$/.exec(f.format(new Date(t)));
  assert.ok(m, f.format(new Date(t)));
  const weekday = WEEKDAYS.indexOf(m[1] as string);
  assert.ok(weekday >= 0);
  return { weekday, minute: Number(m[2]) * 60 + Number(m[3]) };
}

/** A window occurrence is the interval [start, start + length) of minutes counted from its start day's midnight. */
function refInWindow(t: number, w: OffPeakWindow, zone: string): boolean {
  const { weekday, minute } = refLocal(t, zone);
  const [sh, sm] = w.start.split(':').map(Number) as [number, number];
  const [eh, em] = w.end.split(':').map(Number) as [number, number];
  const start = sh * 60 + sm;
  const end = eh * 60 + em;
  const length = end > start ? end - start : 1440 - start + end;
  const days = w.days ?? [0, 1, 2, 3, 4, 5, 6];
  // Started today, or started yesterday (so we are 1440 minutes further along).
  for (const [startDay, sinceMidnight] of [
    [weekday, minute],
    [(weekday + 6) % 7, minute + 1440],
  ] as const) {
    if (days.includes(startDay) && sinceMidnight >= start && sinceMidnight < start + length) return true;
  }
  return false;
}

const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const arbMinute = fc.integer({ min: 0, max: 1439 });
const arbDays = fc.option(fc.subarray([0, 1, 2, 3, 4, 5, 6]), { nil: undefined });
const arbWindow: fc.Arbitrary<OffPeakWindow> = fc
  .tuple(arbMinute, arbMinute, arbDays)
  .map(([s, e, days]) => win(hhmm(s), hhmm(e), days));
const arbInstant = fc.integer({ min: at('1995-01-01T00:00:00Z'), max: at('2045-01-01T00:00:00Z') });

describe('parseClock', () => {
  it('reads HH:MM as minutes after midnight', () => {
    assert.equal(parseClock('00:00'), 0);
    assert.equal(parseClock('07:05'), 425);
    assert.equal(parseClock('12:30'), 750);
    assert.equal(parseClock('23:59'), 1439);
  });

  it('rejects anything outside 00:00-23:59, naming the value', () => {
    for (const bad of ['24:00', '7:5', '07:5', '7:05', 'ab', '', '12:60', ' 12:00', '12:00 ', '12:00:00', '-1:00', '1200', '12.00', '٠٧:٠٠']) {
      assert.throws(
        () => parseClock(bad),
        (e: unknown) => e instanceof Error && e.message.includes(JSON.stringify(bad)) && e.message.includes('HH:MM'),
        bad,
      );
    }
  });
});

describe('inWindow: within a day', () => {
  const w = [win('09:00', '17:00')];
  it('start is inclusive and end exclusive', () => {
    assert.equal(inWindow(at('2026-01-02T08:59:59.999Z'), w, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T09:00:00Z'), w, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-02T12:00:00Z'), w, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-02T16:59:59.999Z'), w, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-02T17:00:00Z'), w, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T23:00:00Z'), w, 'UTC'), false);
  });

  it('a day filter restricts it to those weekdays', () => {
    const fri = [win('09:00', '17:00', [FRI])];
    assert.equal(inWindow(at('2026-01-02T10:00:00Z'), fri, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-01T10:00:00Z'), fri, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-03T10:00:00Z'), fri, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-09T10:00:00Z'), fri, 'UTC'), true);
  });

  it('no windows, or a window with no days, never matches', () => {
    assert.equal(inWindow(at('2026-01-02T10:00:00Z'), [], 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T10:00:00Z'), [win('00:00', '00:00', [])], 'UTC'), false);
  });
});

describe('inWindow: crossing midnight', () => {
  const friNight = [win('22:00', '06:00', [FRI])];
  it('a Friday-only window covers Friday 22:00 to Saturday 06:00', () => {
    assert.equal(inWindow(at('2026-01-02T21:59:00Z'), friNight, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T22:00:00Z'), friNight, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-02T23:59:59Z'), friNight, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T00:00:00Z'), friNight, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T05:59:59.999Z'), friNight, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T06:00:00Z'), friNight, 'UTC'), false);
  });

  it('does not cover early Friday (that belongs to Thursday night) nor Saturday night', () => {
    assert.equal(inWindow(at('2026-01-02T03:00:00Z'), friNight, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T00:00:00Z'), friNight, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-03T22:00:00Z'), friNight, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-04T03:00:00Z'), friNight, 'UTC'), false);
  });

  it('without a day filter it covers every night', () => {
    const nightly = [win('22:00', '06:00')];
    assert.equal(inWindow(at('2026-01-02T03:00:00Z'), nightly, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-04T23:00:00Z'), nightly, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-04T12:00:00Z'), nightly, 'UTC'), false);
  });

  it('a window ending at 00:00 ends at midnight', () => {
    const evening = [win('20:00', '00:00', [FRI])];
    assert.equal(inWindow(at('2026-01-02T23:59:59Z'), evening, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T00:00:00Z'), evening, 'UTC'), false);
  });
});

describe('inWindow: whole-day windows (start == end)', () => {
  it('00:00-00:00 with no days is always on', () => {
    fc.assert(
      fc.property(fc.integer({ min: at('2000-01-01T00:00:00Z'), max: at('2040-01-01T00:00:00Z') }), (t) => {
        assert.equal(inWindow(t, [win('00:00', '00:00')], 'Europe/Berlin'), true);
      }),
      { numRuns: 200 },
    );
  });

  it('00:00-00:00 on Saturday is exactly Saturday', () => {
    const sat = [win('00:00', '00:00', [SAT])];
    assert.equal(inWindow(at('2026-01-02T23:59:59Z'), sat, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-03T00:00:00Z'), sat, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T23:59:59Z'), sat, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-04T00:00:00Z'), sat, 'UTC'), false);
  });

  it('12:00-12:00 on Friday runs 24 hours from Friday noon', () => {
    const fri = [win('12:00', '12:00', [FRI])];
    assert.equal(inWindow(at('2026-01-02T11:59:00Z'), fri, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T12:00:00Z'), fri, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T11:59:00Z'), fri, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T12:00:00Z'), fri, 'UTC'), false);
  });
});

describe('inWindow: multiple windows', () => {
  const ws = [win('01:00', '02:00'), win('13:00', '14:00', [SAT]), win('23:00', '00:30', [FRI])];
  it('is in if any window matches', () => {
    assert.equal(inWindow(at('2026-01-02T01:30:00Z'), ws, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T13:30:00Z'), ws, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-03T00:15:00Z'), ws, 'UTC'), true);
    assert.equal(inWindow(at('2026-01-02T23:30:00Z'), ws, 'UTC'), true);
  });
  it('and out if none does', () => {
    assert.equal(inWindow(at('2026-01-02T13:30:00Z'), ws, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T12:00:00Z'), ws, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-02T00:15:00Z'), ws, 'UTC'), false);
    assert.equal(inWindow(at('2026-01-03T02:00:00Z'), ws, 'UTC'), false);
  });
});

describe('inWindow: time zones', () => {
  // 2026-01-15T14:00Z (a Thursday) is 09:00 in New York (EST) and 23:00 in Tokyo.
  const t = at('2026-01-15T14:00:00Z');
  it('reads the wall clock of the given zone', () => {
    assert.equal(inWindow(t, [win('22:00', '06:00')], 'Asia/Tokyo'), true);
    assert.equal(inWindow(t, [win('22:00', '06:00')], 'America/New_York'), false);
    assert.equal(inWindow(t, [win('08:00', '10:00')], 'America/New_York'), true);
    assert.equal(inWindow(t, [win('08:00', '10:00')], 'Asia/Tokyo'), false);
    assert.equal(inWindow(t, [win('13:00', '15:00')], 'UTC'), true);
  });

  it('reads the weekday in the given zone too', () => {
    // 2026-01-16T20:00Z is Friday 15:00 in New York and Saturday 05:00 in Tokyo.
    const u = at('2026-01-16T20:00:00Z');
    const saturday = [win('00:00', '00:00', [SAT])];
    assert.equal(inWindow(u, saturday, 'Asia/Tokyo'), true);
    assert.equal(inWindow(u, saturday, 'America/New_York'), false);
  });

  it('handles zones with non-whole-hour offsets', () => {
    // 2026-01-15T14:00Z is 19:30 in Kolkata and 19:45 in Kathmandu.
    assert.equal(inWindow(t, [win('19:30', '19:31')], 'Asia/Kolkata'), true);
    assert.equal(inWindow(t, [win('19:31', '19:45')], 'Asia/Kolkata'), false);
    assert.equal(inWindow(t, [win('19:45', '19:46')], 'Asia/Kathmandu'), true);
    assert.equal(inWindow(t, [win('19:30', '19:45')], 'Asia/Kathmandu'), false);
  });

  it('throws on an unknown zone', () => {
    assert.throws(() => inWindow(t, [win('00:00', '01:00')], 'Mars/Olympus_Mons'), RangeError);
  });
});

describe('inWindow: DST transitions', () => {
  it('Europe/Berlin spring-forward (2026-03-29): a 01:00-03:00 window lasts one real hour', () => {
    // 02:00 CET becomes 03:00 CEST at 01:00Z.
    const w = [win('01:00', '03:00')];
    assert.equal(inWindow(at('2026-03-28T23:59:00Z'), w, 'Europe/Berlin'), false); // 00:59 CET
    assert.equal(inWindow(at('2026-03-29T00:00:00Z'), w, 'Europe/Berlin'), true); // 01:00 CET
    assert.equal(inWindow(at('2026-03-29T00:59:59Z'), w, 'Europe/Berlin'), true); // 01:59:59 CET
    assert.equal(inWindow(at('2026-03-29T01:00:00Z'), w, 'Europe/Berlin'), false); // 03:00 CEST
    let inside = 0;
    for (let t = at('2026-03-28T12:00:00Z'); t < at('2026-03-29T12:00:00Z'); t += MINUTE) if (inWindow(t, w, 'Europe/Berlin')) inside++;
    assert.equal(inside, 60);
  });

  it('Europe/Berlin: a window inside the skipped hour does not open that night', () => {
    const w = [win('02:10', '02:50')];
    for (let t = at('2026-03-28T12:00:00Z'); t < at('2026-03-29T12:00:00Z'); t += MINUTE)
      assert.equal(inWindow(t, w, 'Europe/Berlin'), false, new Date(t).toISOString());
    // It does the night before and after.
    assert.equal(inWindow(at('2026-03-28T01:30:00Z'), w, 'Europe/Berlin'), true); // 02:30 CET
    assert.equal(inWindow(at('2026-03-30T00:30:00Z'), w, 'Europe/Berlin'), true); // 02:30 CEST
  });

  it('America/New_York spring-forward (2026-03-08): 01:00-04:00 lasts two real hours', () => {
    // 02:00 EST becomes 03:00 EDT at 07:00Z.
    const w = [win('01:00', '04:00')];
    assert.equal(inWindow(at('2026-03-08T05:59:00Z'), w, 'America/New_York'), false); // 00:59 EST
    assert.equal(inWindow(at('2026-03-08T06:00:00Z'), w, 'America/New_York'), true); // 01:00 EST
    assert.equal(inWindow(at('2026-03-08T07:00:00Z'), w, 'America/New_York'), true); // 03:00 EDT
    assert.equal(inWindow(at('2026-03-08T07:59:00Z'), w, 'America/New_York'), true); // 03:59 EDT
    assert.equal(inWindow(at('2026-03-08T08:00:00Z'), w, 'America/New_York'), false); // 04:00 EDT
    let inside = 0;
    for (let t = at('2026-03-08T00:00:00Z'); t < at('2026-03-09T00:00:00Z'); t += MINUTE) if (inWindow(t, w, 'America/New_York')) inside++;
    assert.equal(inside, 120);
  });

  it('America/New_York fall-back (2026-11-01): 01:00-02:00 lasts two real hours', () => {
    // 02:00 EDT becomes 01:00 EST at 06:00Z; 01:00-01:59 happens twice.
    const w = [win('01:00', '02:00')];
    assert.equal(inWindow(at('2026-11-01T04:59:00Z'), w, 'America/New_York'), false); // 00:59 EDT
    assert.equal(inWindow(at('2026-11-01T05:00:00Z'), w, 'America/New_York'), true); // 01:00 EDT
    assert.equal(inWindow(at('2026-11-01T06:00:00Z'), w, 'America/New_York'), true); // 01:00 EST
    assert.equal(inWindow(at('2026-11-01T06:59:00Z'), w, 'America/New_York'), true); // 01:59 EST
    assert.equal(inWindow(at('2026-11-01T07:00:00Z'), w, 'America/New_York'), false); // 02:00 EST
    let inside = 0;
    for (let t = at('2026-10-31T12:00:00Z'); t < at('2026-11-01T12:00:00Z'); t += MINUTE) if (inWindow(t, w, 'America/New_York')) inside++;
    assert.equal(inside, 120);
  });

  it('the weekday stays the local one across the change (Sunday-only window on 2026-11-01)', () => {
    const w = [win('00:00', '00:00', [0])];
    assert.equal(inWindow(at('2026-11-01T03:59:00Z'), w, 'America/New_York'), false); // Sat 23:59 EDT
    assert.equal(inWindow(at('2026-11-01T04:00:00Z'), w, 'America/New_York'), true); // Sun 00:00 EDT
    assert.equal(inWindow(at('2026-11-02T04:59:00Z'), w, 'America/New_York'), true); // Sun 23:59 EST
    assert.equal(inWindow(at('2026-11-02T05:00:00Z'), w, 'America/New_York'), false); // Mon 00:00 EST
  });
});

describe('nextWindowStart', () => {
  const nightly = [win('22:00', '06:00')];
  it('is now when already inside a window', () => {
    const t = at('2026-01-02T23:17:42.123Z');
    assert.equal(nextWindowStart(t, nightly, 'UTC'), t);
  });

  it("is today's start when before it", () => {
    assert.equal(nextWindowStart(at('2026-01-02T12:34:56.789Z'), nightly, 'UTC'), at('2026-01-02T22:00:00Z'));
    assert.equal(nextWindowStart(at('2026-01-02T06:00:00Z'), nightly, 'UTC'), at('2026-01-02T22:00:00Z'));
  });

  it("is tomorrow's start when today's has passed", () => {
    const day = [win('09:00', '10:00')];
    assert.equal(nextWindowStart(at('2026-01-02T10:00:00Z'), day, 'UTC'), at('2026-01-03T09:00:00Z'));
    assert.equal(nextWindowStart(at('2026-01-02T23:59:59Z'), day, 'UTC'), at('2026-01-03T09:00:00Z'));
  });

  it('with a day filter it is the right weekday', () => {
    const friNight = [win('22:00', '06:00', [FRI])];
    // From Saturday 07:00 (just after it closed): next Friday.
    assert.equal(nextWindowStart(at('2026-01-03T07:00:00Z'), friNight, 'UTC'), at('2026-01-09T22:00:00Z'));
    // From Friday 22:30: inside.
    assert.equal(nextWindowStart(at('2026-01-02T22:30:00Z'), friNight, 'UTC'), at('2026-01-02T22:30:00Z'));
    // From Wednesday: this Friday.
    assert.equal(nextWindowStart(at('2025-12-31T10:00:00Z'), friNight, 'UTC'), at('2026-01-02T22:00:00Z'));
    // Friday 21:59: same evening.
    assert.equal(nextWindowStart(at('2026-01-02T21:59:00Z'), friNight, 'UTC'), at('2026-01-02T22:00:00Z'));
  });

  it('picks the earliest of several windows', () => {
    const ws = [win('20:00', '21:00', [SAT]), win('15:00', '16:00', [SAT]), win('03:00', '04:00', [0])];
    assert.equal(nextWindowStart(at('2026-01-02T12:00:00Z'), ws, 'UTC'), at('2026-01-03T15:00:00Z'));
    assert.equal(nextWindowStart(at('2026-01-03T16:00:00Z'), ws, 'UTC'), at('2026-01-03T20:00:00Z'));
    assert.equal(nextWindowStart(at('2026-01-03T21:00:00Z'), ws, 'UTC'), at('2026-01-04T03:00:00Z'));
  });

  it('is in the given zone', () => {
    // 22:00 in Tokyo is 13:00Z; in New York (EST) 03:00Z the next day.
    const t = at('2026-01-15T12:00:00Z');
    assert.equal(nextWindowStart(t, nightly, 'Asia/Tokyo'), at('2026-01-15T13:00:00Z'));
    assert.equal(nextWindowStart(t, nightly, 'America/New_York'), at('2026-01-16T03:00:00Z'));
  });

  it('is null with no windows or no days', () => {
    assert.equal(nextWindowStart(at('2026-01-02T12:00:00Z'), [], 'UTC'), null);
    assert.equal(nextWindowStart(at('2026-01-02T12:00:00Z'), [win('01:00', '02:00', [])], 'UTC'), null);
  });

  it('across spring-forward: a window starting in the gap opens when the gap ends', () => {
    // Berlin 2026-03-29: 02:00 CET → 03:00 CEST at 01:00Z. A 02:30-04:00 window opens at 03:00 CEST.
    assert.equal(nextWindowStart(at('2026-03-28T23:00:00Z'), [win('02:30', '04:00')], 'Europe/Berlin'), at('2026-03-29T01:00:00Z'));
    // One wholly in the gap skips to the next night (02:15 CEST = 00:15Z).
    assert.equal(nextWindowStart(at('2026-03-28T23:00:00Z'), [win('02:15', '02:45')], 'Europe/Berlin'), at('2026-03-30T00:15:00Z'));
    // One after the gap opens at its wall-clock time in the new offset (05:00 CEST = 03:00Z).
    assert.equal(nextWindowStart(at('2026-03-28T23:00:00Z'), [win('05:00', '06:00')], 'Europe/Berlin'), at('2026-03-29T03:00:00Z'));
  });

  it('across fall-back: a window whose wall-clock hour repeats opens again', () => {
    // New York 2026-11-01: 02:00 EDT → 01:00 EST at 06:00Z. At 01:45 EDT the 01:00-01:30 window has closed,
    // but the clock goes back to 01:00 at 06:00Z.
    assert.equal(nextWindowStart(at('2026-11-01T05:45:00Z'), [win('01:00', '01:30')], 'America/New_York'), at('2026-11-01T06:00:00Z'));
    // A later window: 03:00 EST = 08:00Z.
    assert.equal(nextWindowStart(at('2026-11-01T05:45:00Z'), [win('03:00', '04:00')], 'America/New_York'), at('2026-11-01T08:00:00Z'));
  });

  it('property: the result is inside a window and no earlier minute is', () => {
    const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns'];
    fc.assert(
      fc.property(
        fc.integer({ min: at('2024-01-01T00:00:00Z'), max: at('2028-01-01T00:00:00Z') }),
        arbWindow,
        fc.constantFrom(...zones),
        (now, w, zone) => {
          const r = nextWindowStart(now, [w], zone);
          if (w.days !== undefined && w.days.length === 0) {
            assert.equal(r, null);
            return;
          }
          assert.notEqual(r, null);
          const next = r as number;
          assert.ok(next >= now && next <= now + 8 * DAY);
          assert.equal(inWindow(next, [w], zone), true);
          if (next === now) return;
          assert.equal(inWindow(now, [w], zone), false);
          assert.equal(inWindow(next - 1, [w], zone), false);
          // These zones' offsets are whole minutes, so membership can only change on a minute.
          for (let t = Math.floor(now / MINUTE) * MINUTE + MINUTE; t < next; t += MINUTE) assert.equal(inWindow(t, [w], zone), false);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('low-utilization tracker', () => {
  const T = 0.2;
  const none: LowUtilState = { since: null };
  it('a run starts at the first sample below the threshold and continues', () => {
    let s = observeUtilization(none, 0.1, 1000, T);
    assert.deepEqual(s, { since: 1000 });
    s = observeUtilization(s, 0.05, 5000, T);
    s = observeUtilization(s, 0.19, 9000, T);
    assert.deepEqual(s, { since: 1000 });
  });

  it('a sample at or above the threshold resets it', () => {
    const s = observeUtilization({ since: 1000 }, 0.2, 5000, T);
    assert.deepEqual(s, { since: null });
    assert.deepEqual(observeUtilization({ since: 1000 }, 0.9, 5000, T), { since: null });
    assert.deepEqual(observeUtilization(none, 0.5, 5000, T), { since: null });
    // And the next run starts afresh.
    assert.deepEqual(observeUtilization(s, 0.0, 7000, T), { since: 7000 });
  });

  it('NaN utilization does not count as low', () => {
    assert.deepEqual(observeUtilization({ since: 1000 }, Number.NaN, 5000, T), { since: null });
  });

  it('time going backwards never makes a run look longer', () => {
    const s = observeUtilization({ since: 10_000 }, 0.1, 4000, T);
    assert.deepEqual(s, { since: 4000 });
    assert.equal(lowForLong(s, 8000, 5000), false);
    assert.equal(lowForLong(s, 9000, 5000), true);
  });

  it('lowForLong needs the run to have lasted minMs', () => {
    const s: LowUtilState = { since: 1000 };
    assert.equal(lowForLong(s, 1000 + 59_999, 60_000), false);
    assert.equal(lowForLong(s, 1000 + 60_000, 60_000), true);
    assert.equal(lowForLong(none, 1e12, 0), false);
    // A clock now behind `since` is not a long run.
    assert.equal(lowForLong(s, 500, 0), false);
    assert.equal(lowForLong(s, 1000, 0), true);
  });

  it('property: since is the earliest sample time of the current run below the threshold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1e6 })), { maxLength: 40 }),
        (samples) => {
          let s = none;
          let run: number[] = [];
          for (const [u, t] of samples) {
            s = observeUtilization(s, u, t, T);
            run = u < T ? [...run, t] : [];
            assert.deepEqual(s, { since: run.length === 0 ? null : Math.min(...run) });
          }
        },
      ),
    );
  });
});

describe('deferredAllowed', () => {
  const policy: DeferredPolicy = {
    windows: [win('22:00', '06:00')],
    timeZone: 'UTC',
    lowUtilization: { below: 0.3, forMs: 10 * MINUTE },
  };
  const night = at('2026-01-02T23:00:00Z');
  const noon = at('2026-01-02T12:00:00Z');

  it('allows inside a window, reporting the window even when utilization is also low', () => {
    assert.deepEqual(deferredAllowed(policy, { since: null }, night), { allowed: true, reason: 'off-peak window' });
    assert.deepEqual(deferredAllowed(policy, { since: night - HOUR }, night), { allowed: true, reason: 'off-peak window' });
  });

  it('allows outside windows once utilization has been low for long enough', () => {
    assert.deepEqual(deferredAllowed(policy, { since: noon - 10 * MINUTE }, noon), { allowed: true, reason: 'low utilization' });
  });

  it('refuses at peak: not low, or not low for long enough', () => {
    assert.deepEqual(deferredAllowed(policy, { since: null }, noon), { allowed: false, reason: 'peak' });
    assert.deepEqual(deferredAllowed(policy, { since: noon - 10 * MINUTE + 1 }, noon), { allowed: false, reason: 'peak' });
  });

  it('ignores the tracker when the low-utilization rule is off', () => {
    const windowsOnly: DeferredPolicy = { ...policy, lowUtilization: null };
    assert.deepEqual(deferredAllowed(windowsOnly, { since: 0 }, noon), { allowed: false, reason: 'peak' });
    assert.deepEqual(deferredAllowed(windowsOnly, { since: 0 }, night), { allowed: true, reason: 'off-peak window' });
  });

  it('with no windows only low utilization can allow', () => {
    const lowOnly: DeferredPolicy = { ...policy, windows: [] };
    assert.deepEqual(deferredAllowed(lowOnly, { since: null }, night), { allowed: false, reason: 'peak' });
    assert.deepEqual(deferredAllowed(lowOnly, { since: night - HOUR }, night), { allowed: true, reason: 'low utilization' });
  });

  it('evaluates the windows in the policy zone', () => {
    // 12:00Z is 21:00 in Tokyo, 22:00 in Vladivostok (+10).
    assert.equal(deferredAllowed({ ...policy, timeZone: 'Asia/Tokyo' }, { since: null }, noon).allowed, false);
    assert.equal(deferredAllowed({ ...policy, timeZone: 'Asia/Vladivostok' }, { since: null }, noon).allowed, true);
  });
});

describe('validateWindows', () => {
  it('accepts good windows', () => {
    assert.deepEqual(validateWindows([]), []);
    assert.deepEqual(validateWindows([{ start: '22:00', end: '06:00', days: [5, 6] }, { start: '00:00', end: '00:00' }]), []);
  });

  it('names a bad time', () => {
    assert.deepEqual(validateWindows([{ start: '01:00', end: '02:00' }, { start: '25:00', end: '06:00' }]), [
      'windows[1].start: "25:00" is not HH:MM',
    ]);
    assert.deepEqual(validateWindows([{ start: '01:00', end: '7:5' }]), ['windows[0].end: "7:5" is not HH:MM']);
    assert.deepEqual(validateWindows([{ start: 100, end: '06:00' }]), ['windows[0].start: 100 is not HH:MM']);
  });

  it('names a missing time', () => {
    assert.deepEqual(validateWindows([{ end: '06:00' }]), ['windows[0].start: is required (HH:MM)']);
  });

  it('names a bad day', () => {
    assert.deepEqual(validateWindows([{ start: '01:00', end: '02:00', days: [0, 1, 7] }]), ['windows[0].days[2]: 7 is not a day 0-6']);
    assert.deepEqual(validateWindows([{ start: '01:00', end: '02:00', days: [-1, 1.5, '5'] }]), [
      'windows[0].days[0]: -1 is not a day 0-6',
      'windows[0].days[1]: 1.5 is not a day 0-6',
      'windows[0].days[2]: "5" is not a day 0-6',
    ]);
  });

  it('rejects days that is not an array, or empty', () => {
    const [notArray] = validateWindows([{ start: '01:00', end: '02:00', days: 5 }]);
    assert.match(notArray ?? '', /^windows\[0\]\.days: .*5/);
    const [empty] = validateWindows([{ start: '01:00', end: '02:00', days: [] }]);
    assert.match(empty ?? '', /^windows\[0\]\.days: is empty/);
  });

  it('rejects unknown fields (a typo would otherwise mean every day)', () => {
    assert.deepEqual(validateWindows([{ start: '01:00', end: '02:00', day: [5] }]), [
      'windows[0].day: unknown field (expected start, end, days)',
    ]);
  });

  it('rejects non-arrays and non-objects', () => {
    assert.match(validateWindows({ start: '01:00', end: '02:00' })[0] ?? '', /^windows: expected an array/);
    assert.match(validateWindows(null)[0] ?? '', /^windows: expected an array/);
    assert.deepEqual(validateWindows(['01:00-02:00', null]).length, 2);
    assert.match(validateWindows([null])[0] ?? '', /^windows\[0\]: expected an object/);
  });

  it('reports every problem, in order', () => {
    assert.deepEqual(validateWindows([{ start: 'x', end: '24:00', days: [9] }, { start: '01:00', end: '02:00' }, { end: '' }]), [
      'windows[0].start: "x" is not HH:MM',
      'windows[0].end: "24:00" is not HH:MM',
      'windows[0].days[0]: 9 is not a day 0-6',
      'windows[2].start: is required (HH:MM)',
      'windows[2].end: "" is not HH:MM',
    ]);
  });

  it('what it accepts, parseClock and inWindow accept', () => {
    fc.assert(
      fc.property(arbWindow, (w) => {
        assert.deepEqual(validateWindows([w]).filter((m) => !m.includes('is empty')), []);
        inWindow(0, [w], 'UTC');
      }),
    );
  });
});

describe('inWindow agrees with a brute-force reference', () => {
  it('for random instants and windows', () => {
    fc.assert(
      fc.property(arbInstant, arbWindow, fc.constantFrom(...ZONES), (t, w, zone) => {
        assert.equal(inWindow(t, [w], zone), refInWindow(t, w, zone));
      }),
      { numRuns: 2000 },
    );
  });

  it('for windows whose edges sit right at the local time (boundary cases)', () => {
    fc.assert(
      fc.property(
        arbInstant,
        fc.integer({ min: -2, max: 2 }),
        fc.integer({ min: -2, max: 2 }),
        fc.boolean(),
        arbDays,
        fc.constantFrom(...ZONES),
        (t, ds, de, crossDay, days, zone) => {
          const { minute } = refLocal(t, zone);
          const s = (minute + ds + 1440) % 1440;
          const e = crossDay ? (minute + de + 1440) % 1440 : (s + 1 + Math.abs(de)) % 1440;
          const w = win(hhmm(s), hhmm(e), days);
          assert.equal(inWindow(t, [w], zone), refInWindow(t, w, zone));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('for every minute around DST transitions', () => {
    const cases: [string, string][] = [
      ['Europe/Berlin', '2026-03-28T22:00:00Z'],
      ['Europe/Berlin', '2026-10-24T22:00:00Z'],
      ['America/New_York', '2026-03-08T04:00:00Z'],
      ['America/New_York', '2026-11-01T03:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T13:00:00Z'],
    ];
    const windows = [win('01:00', '03:00'), win('02:15', '02:45', [0]), win('23:30', '02:30', [SAT]), win('01:30', '01:30', [0])];
    for (const [zone, from] of cases) {
      for (let t = at(from); t < at(from) + 8 * HOUR; t += MINUTE)
        for (const w of windows) assert.equal(inWindow(t, [w], zone), refInWindow(t, w, zone), `${zone} ${new Date(t).toISOString()} ${JSON.stringify(w)}`);
    }
  });
});
