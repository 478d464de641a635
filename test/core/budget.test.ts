import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canHold, hold, periodOf, remaining, settle, type BudgetState } from '../../src/core/budget.ts';
import { usdToNano } from '../../src/core/money.ts';

const b = (limit: number | null, spent = 0, held = 0): BudgetState => ({ limit, spent, held });

describe('remaining', () => {
  it('is limit − spent − held', () => {
    assert.equal(remaining(b(100, 30, 20)), 50);
    assert.equal(remaining(b(100, 0, 0)), 100);
    assert.equal(remaining(b(100, 100, 0)), 0);
  });

  it('goes negative after an overrun', () => {
    assert.equal(remaining(b(100, 120, 0)), -20);
  });

  it('is infinite for an unlimited budget', () => {
    assert.equal(remaining(b(null, 1e15, 1e15)), Number.POSITIVE_INFINITY);
  });

  it('a limit of zero leaves nothing', () => {
    assert.equal(remaining(b(0)), 0);
  });
});

describe('canHold', () => {
  it('allows a hold that fits exactly, refuses one nano more', () => {
    assert.equal(canHold(b(100, 30, 20), 50), true);
    assert.equal(canHold(b(100, 30, 20), 51), false);
  });

  it('counts outstanding holds against the limit', () => {
    assert.equal(canHold(b(100, 0, 100), 1), false);
    assert.equal(canHold(b(100, 0, 99), 1), true);
  });

  it('refuses everything but zero once overspent', () => {
    assert.equal(canHold(b(100, 120, 0), 1), false);
    assert.equal(canHold(b(100, 100, 0), 0), true);
  });

  it('an unlimited budget can hold anything', () => {
    assert.equal(canHold(b(null, 5, 5), Number.MAX_SAFE_INTEGER), true);
  });

  it('a zero budget can hold only zero', () => {
    assert.equal(canHold(b(0), 0), true);
    assert.equal(canHold(b(0), 1), false);
  });
});

describe('hold and settle', () => {
  it('hold reserves the amount without spending it', () => {
    assert.deepEqual(hold(b(100, 10, 5), 20), b(100, 10, 25));
  });

  it('hold does not mutate its input', () => {
    const s0 = b(100, 10, 5);
    hold(s0, 20);
    assert.deepEqual(s0, b(100, 10, 5));
  });

  it('settle releases the hold and charges the actual cost', () => {
    const s = settle(hold(b(100), 40), 40, 25);
    assert.deepEqual(s, b(100, 25, 0));
    assert.equal(remaining(s), 75);
  });

  it('settle charges an overrun in full (actual above the hold)', () => {
    const s = settle(hold(b(100), 40), 40, 130);
    assert.deepEqual(s, b(100, 130, 0));
    assert.equal(remaining(s), -30);
    assert.equal(canHold(s, 1), false);
  });

  it('a failed request settles with actual 0: the hold comes back in full', () => {
    const s = settle(hold(b(100, 10), 50), 50, 0);
    assert.deepEqual(s, b(100, 10, 0));
  });

  it('several holds are released independently', () => {
    let s = b(100);
    s = hold(s, 30);
    s = hold(s, 40);
    assert.equal(remaining(s), 30);
    s = settle(s, 30, 10);
    assert.deepEqual(s, b(100, 10, 40));
    s = settle(s, 40, 40);
    assert.deepEqual(s, b(100, 50, 0));
  });

  it('held never goes negative even if a settle releases more than is held', () => {
    assert.deepEqual(settle(b(100, 0, 10), 25, 5), b(100, 5, 0));
  });

  it('unlimited budgets still track spending', () => {
    let s = b(null);
    s = hold(s, usdToNano(3));
    s = settle(s, usdToNano(3), usdToNano(1.25));
    assert.deepEqual(s, b(null, 1_250_000_000, 0));
    assert.equal(remaining(s), Number.POSITIVE_INFINITY);
  });

  it('PROPERTY: holds taken only when canHold and settled once with actual ≤ held keep spent + held ≤ limit; held ends at 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('hold' as const), amount: fc.integer({ min: 0, max: 5000 }) }),
            fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
          ),
          { maxLength: 100 },
        ),
        (limit, ops) => {
          let s = b(limit);
          const open: number[] = [];
          let refused = 0;
          let spentModel = 0;
          for (const op of ops) {
            if (op.kind === 'hold') {
              const fits = op.amount <= limit - s.spent - s.held;
              assert.equal(canHold(s, op.amount), fits);
              if (canHold(s, op.amount)) {
                s = hold(s, op.amount);
                open.push(op.amount);
              } else {
                refused++;
              }
            } else if (open.length > 0) {
              const i = op.pick % open.length;
              const h = open[i] as number;
              open.splice(i, 1); // settled at most once
              const actual = Math.floor(h * op.frac);
              s = settle(s, h, actual);
              spentModel += actual;
            }
            assert.ok(s.spent + s.held <= limit, `spent ${s.spent} + held ${s.held} > limit ${limit}`);
            assert.ok(remaining(s) >= 0);
            assert.equal(s.held, open.reduce((a, x) => a + x, 0), 'held is exactly the sum of open holds');
            assert.equal(s.spent, spentModel);
          }
          // Settle the rest: every hold released exactly once.
          while (open.length > 0) {
            const h = open.pop() as number;
            s = settle(s, h, h);
            spentModel += h;
          }
          assert.equal(s.held, 0);
          assert.equal(s.spent, spentModel);
          assert.ok(s.spent <= limit);
          assert.equal(s.limit, limit);
          assert.ok(refused >= 0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

const at = (iso: string): number => Date.parse(iso);

describe('periodOf', () => {
  it('is the UTC calendar month as YYYY-MM', () => {
    assert.equal(periodOf(at('2026-01-15T12:00:00Z'), 'UTC'), '2026-01');
    assert.equal(periodOf(at('2026-11-30T23:59:59.999Z'), 'UTC'), '2026-11');
    assert.equal(periodOf(at('2026-12-01T00:00:00.000Z'), 'UTC'), '2026-12');
    assert.equal(periodOf(at('2026-12-31T23:59:59.999Z'), 'UTC'), '2026-12');
    assert.equal(periodOf(at('2027-01-01T00:00:00.000Z'), 'UTC'), '2027-01');
  });

  it('handles leap-year February', () => {
    assert.equal(periodOf(at('2028-02-29T23:59:59.999Z'), 'UTC'), '2028-02');
    assert.equal(periodOf(at('2028-03-01T00:00:00.000Z'), 'UTC'), '2028-03');
  });

  it('in America/New_York, 2026-12-01T03:00Z is still November', () => {
    assert.equal(periodOf(at('2026-12-01T03:00:00Z'), 'America/New_York'), '2026-11');
    // Local midnight on the 1st (EST, UTC−5) is 05:00Z.
    assert.equal(periodOf(at('2026-12-01T04:59:59.999Z'), 'America/New_York'), '2026-11');
    assert.equal(periodOf(at('2026-12-01T05:00:00.000Z'), 'America/New_York'), '2026-12');
  });

  it('uses daylight time when it applies (EDT, UTC−4, on 1 July)', () => {
    assert.equal(periodOf(at('2026-07-01T03:59:59.999Z'), 'America/New_York'), '2026-06');
    assert.equal(periodOf(at('2026-07-01T04:00:00.000Z'), 'America/New_York'), '2026-07');
  });

  it('year boundary in a zone ahead of UTC (Asia/Tokyo, UTC+9)', () => {
    assert.equal(periodOf(at('2026-12-31T14:59:59.999Z'), 'Asia/Tokyo'), '2026-12');
    assert.equal(periodOf(at('2026-12-31T15:00:00.000Z'), 'Asia/Tokyo'), '2027-01');
    assert.equal(periodOf(at('2026-12-31T15:00:00.000Z'), 'UTC'), '2026-12');
  });

  it('year boundary in a zone behind UTC: New Year UTC is still December in New York', () => {
    assert.equal(periodOf(at('2027-01-01T02:00:00Z'), 'America/New_York'), '2026-12');
  });

  it('PROPERTY: UTC period matches the ISO date prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }), (t) => {
        assert.equal(periodOf(t, 'UTC'), new Date(t).toISOString().slice(0, 7));
      }),
      { numRuns: 500 },
    );
  });
});
