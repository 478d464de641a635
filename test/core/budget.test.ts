import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { periodOf, remaining, type BudgetState } from '../../src/core/budget.ts';

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
