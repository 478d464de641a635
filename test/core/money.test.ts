import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NANO_PER_USD, nanoToUsd, usdToNano } from '../../src/core/money.ts';

describe('money', () => {
  it('one dollar is 1e9 nano-dollars', () => {
    assert.equal(NANO_PER_USD, 1_000_000_000);
    assert.equal(usdToNano(1), 1_000_000_000);
    assert.equal(nanoToUsd(1_000_000_000), 1);
  });

  it('usdToNano converts typical prices to exact integers', () => {
    assert.equal(usdToNano(0), 0);
    assert.equal(usdToNano(0.000000001), 1);
    assert.equal(usdToNano(0.1), 100_000_000);
    assert.equal(usdToNano(0.3), 300_000_000);
    assert.equal(usdToNano(0.1 + 0.2), 300_000_000); // float noise rounded away
    assert.equal(usdToNano(2.5e-6), 2500);
    assert.equal(usdToNano(12.345678901), 12_345_678_901);
    assert.equal(usdToNano(-1.25), -1_250_000_000);
  });

  it('usdToNano rounds to the nearest nano-dollar', () => {
    assert.equal(usdToNano(1.4e-9), 1);
    assert.equal(usdToNano(1.6e-9), 2);
    assert.equal(usdToNano(0.4e-9), 0);
    assert.equal(usdToNano(0.123456789444), 123_456_789);
    assert.equal(usdToNano(0.123456789666), 123_456_790);
  });

  it('nanoToUsd shows no floating-point noise', () => {
    assert.equal(nanoToUsd(300_000_000), 0.3);
    assert.equal(nanoToUsd(100_000_000 + 200_000_000), 0.3);
    assert.equal(nanoToUsd(1), 1e-9);
    assert.equal(nanoToUsd(123_456_789), 0.123456789);
    assert.equal(nanoToUsd(0), 0);
    assert.equal(nanoToUsd(-2_500), -0.0000025);
  });

  it('adding in nano and converting once gives exact totals where float sums drift', () => {
    const prices = Array.from({ length: 10 }, () => 0.1);
    const floatSum = prices.reduce((a, b) => a + b, 0);
    assert.notEqual(floatSum, 1); // the problem nano-dollars solve
    const nanoSum = prices.map(usdToNano).reduce((a, b) => a + b, 0);
    assert.equal(nanoSum, 1_000_000_000);
    assert.equal(nanoToUsd(nanoSum), 1);
  });

  // Up to 2^51 nano (≈ $2.25 million). Above that a double cannot hold every
  // 9-decimal USD value distinctly, so the USD view may be off by one nano.
  const LIMIT = 2 ** 51;
  it('PROPERTY: nano → usd → nano round-trips every integer amount up to ±2^51 nano', () => {
    fc.assert(
      fc.property(fc.integer({ min: -LIMIT, max: LIMIT }), (n) => {
        assert.equal(usdToNano(nanoToUsd(n)), n);
      }),
      { numRuns: 5000 },
    );
    for (const n of [0, 1, -1, 999_999_999, 1_000_000_001, 123_456_789_012_345, LIMIT, -LIMIT]) assert.equal(usdToNano(nanoToUsd(n)), n);
  });

  it('PROPERTY: usd amounts with at most 9 decimals round-trip usd → nano → usd', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 999_999_999 }), (whole, frac) => {
        const usd = Number(`${whole}.${String(frac).padStart(9, '0')}`);
        const nano = usdToNano(usd);
        assert.ok(Number.isSafeInteger(nano));
        assert.equal(nano, whole * NANO_PER_USD + frac);
        assert.equal(nanoToUsd(nano), usd);
      }),
      { numRuns: 3000 },
    );
  });

  it('PROPERTY: usdToNano is within half a nano of the exact value and always an integer', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1000, noNaN: true }), (usd) => {
        const n = usdToNano(usd);
        assert.ok(Number.isInteger(n));
        assert.ok(Math.abs(n - usd * NANO_PER_USD) <= 0.5);
      }),
    );
  });
});
