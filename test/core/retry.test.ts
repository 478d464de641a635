import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay, DEFAULT_RETRY, shouldRetry, type RetryPolicy } from '../../src/core/retry.ts';

const fixed = (r: number) => (): number => r;

describe('retry defaults', () => {
  it('3 attempts, 1 s base, 60 s cap, factor 2, frozen', () => {
    assert.deepEqual({ ...DEFAULT_RETRY }, { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000, factor: 2 });
    assert.ok(Object.isFrozen(DEFAULT_RETRY));
  });
});

describe('backoffDelay', () => {
  it('grows by the factor per attempt (upper end of jitter)', () => {
    const got = [1, 2, 3, 4, 5, 6].map((a) => backoffDelay(DEFAULT_RETRY, a, fixed(1)));
    assert.deepEqual(got, [1000, 2000, 4000, 8000, 16_000, 32_000]);
  });

  it('is capped at maxDelayMs', () => {
    assert.equal(backoffDelay(DEFAULT_RETRY, 7, fixed(1)), 60_000); // 64 s → 60 s
    assert.equal(backoffDelay(DEFAULT_RETRY, 50, fixed(1)), 60_000);
    assert.equal(backoffDelay(DEFAULT_RETRY, 2000, fixed(1)), 60_000); // factor ** n overflows to Infinity
    assert.equal(backoffDelay(DEFAULT_RETRY, 2000, fixed(0)), 30_000);
  });

  it('equal jitter: half fixed, half random', () => {
    assert.equal(backoffDelay(DEFAULT_RETRY, 1, fixed(0)), 500);
    assert.equal(backoffDelay(DEFAULT_RETRY, 1, fixed(0.5)), 750);
    assert.equal(backoffDelay(DEFAULT_RETRY, 3, fixed(0)), 2000);
    assert.equal(backoffDelay(DEFAULT_RETRY, 3, fixed(0.25)), 2500);
    assert.equal(backoffDelay(DEFAULT_RETRY, 7, fixed(0)), 30_000);
  });

  it('never fires immediately and never exceeds the cap, even with a bad random source', () => {
    assert.equal(backoffDelay(DEFAULT_RETRY, 1, fixed(-3)), 500);
    assert.equal(backoffDelay(DEFAULT_RETRY, 1, fixed(7)), 1000);
  });

  it('attempt 0 or below is treated like attempt 1', () => {
    assert.equal(backoffDelay(DEFAULT_RETRY, 0, fixed(1)), 1000);
    assert.equal(backoffDelay(DEFAULT_RETRY, -5, fixed(1)), 1000);
  });

  it('uses Math.random by default, within [d/2, d]', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(DEFAULT_RETRY, 2);
      assert.ok(d >= 1000 && d <= 2000, String(d));
    }
  });

  it('returns whole milliseconds', () => {
    assert.ok(Number.isInteger(backoffDelay({ maxAttempts: 3, baseDelayMs: 333, maxDelayMs: 10_000, factor: 1.5 }, 3, fixed(0.37))));
  });

  it('PROPERTY: delay within [d/2, d] where d = min(max, base × factor^(attempt−1)); non-decreasing in attempt', () => {
    const policyArb = fc.record({
      maxAttempts: fc.integer({ min: 1, max: 10 }),
      baseDelayMs: fc.integer({ min: 1, max: 10_000 }),
      maxDelayMs: fc.integer({ min: 1, max: 600_000 }),
      factor: fc.double({ min: 1, max: 4, noNaN: true }),
    });
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (p: RetryPolicy, attempt, r) => {
        const d = Math.min(p.maxDelayMs, p.baseDelayMs * p.factor ** (attempt - 1));
        const got = backoffDelay(p, attempt, fixed(r));
        assert.ok(Number.isInteger(got));
        assert.ok(got >= Math.floor(d / 2) && got <= Math.ceil(d), `${got} not in [${d / 2}, ${d}]`);
        assert.ok(got >= 1 || d < 1, 'never immediate');
        assert.ok(backoffDelay(p, attempt + 1, fixed(r)) >= got, 'non-decreasing');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('shouldRetry', () => {
  it('retries retryable failures while attempts remain', () => {
    assert.equal(shouldRetry(DEFAULT_RETRY, 1, true), true);
    assert.equal(shouldRetry(DEFAULT_RETRY, 2, true), true);
  });

  it('stops once maxAttempts (including the first) have been made', () => {
    assert.equal(shouldRetry(DEFAULT_RETRY, 3, true), false);
    assert.equal(shouldRetry(DEFAULT_RETRY, 4, true), false);
  });

  it('never retries a non-retryable failure', () => {
    for (const a of [0, 1, 2, 3, 4]) assert.equal(shouldRetry(DEFAULT_RETRY, a, false), false);
  });

  it('maxAttempts 1 means no retries at all', () => {
    assert.equal(shouldRetry({ ...DEFAULT_RETRY, maxAttempts: 1 }, 1, true), false);
  });

  it('PROPERTY: the number of attempts made is exactly maxAttempts for a failure that keeps being retryable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), (maxAttempts) => {
        const p = { ...DEFAULT_RETRY, maxAttempts };
        let attempt = 1;
        while (shouldRetry(p, attempt, true)) attempt++;
        assert.equal(attempt, maxAttempts);
      }),
    );
  });
});
