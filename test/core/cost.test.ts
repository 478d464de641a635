import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tokenCostUsd, usageCost, ZERO_USAGE, type Price, type Usage } from '../../src/core/cost.ts';
import { nanoToUsd } from '../../src/core/money.ts';

const prices: Record<string, Price> = {
  email: { costPerUnitUsd: 0.001 },
  sms: { costPerUnitUsd: 0.0075 },
  free: { costPerUnitUsd: 0 },
};
const priceOf = (name: string): Price | undefined => (Object.hasOwn(prices, name) ? prices[name] : undefined);
const usage = (input: number, output: number, resources: Record<string, number> = {}): Usage => ({ tokens: { input, output }, resources });

describe('tokenCostUsd', () => {
  it('uses separate input and output prices', () => {
    const p: Price = { costPerUnitUsd: 99, inputCostPerUnitUsd: 0.000003, outputCostPerUnitUsd: 0.000015 };
    assert.ok(Math.abs(tokenCostUsd(p, 1000, 0) - 0.003) < 1e-15);
    assert.ok(Math.abs(tokenCostUsd(p, 0, 1000) - 0.015) < 1e-15);
    assert.ok(Math.abs(tokenCostUsd(p, 1000, 1000) - 0.018) < 1e-15);
  });

  it('falls back to the unit price for a missing side', () => {
    assert.equal(tokenCostUsd({ costPerUnitUsd: 2, inputCostPerUnitUsd: 1 }, 3, 5), 3 * 1 + 5 * 2);
    assert.equal(tokenCostUsd({ costPerUnitUsd: 2, outputCostPerUnitUsd: 7 }, 3, 5), 3 * 2 + 5 * 7);
    assert.equal(tokenCostUsd({ costPerUnitUsd: 2 }, 3, 5), 16);
    assert.equal(tokenCostUsd({ costPerUnitUsd: 2, inputCostPerUnitUsd: undefined, outputCostPerUnitUsd: undefined }, 3, 5), 16);
  });

  it('a price of zero on one side is honoured, not replaced by the unit price', () => {
    assert.equal(tokenCostUsd({ costPerUnitUsd: 5, inputCostPerUnitUsd: 0 }, 100, 1), 5);
    assert.equal(tokenCostUsd({ costPerUnitUsd: 5, outputCostPerUnitUsd: 0 }, 1, 100), 5);
  });

  it('no tokens cost nothing', () => {
    assert.equal(tokenCostUsd({ costPerUnitUsd: 5 }, 0, 0), 0);
  });
});

describe('usageCost', () => {
  const model: Price = { costPerUnitUsd: 0, inputCostPerUnitUsd: 0.000003, outputCostPerUnitUsd: 0.000015 };

  it('charges tokens at the model price, in integer nano-dollars', () => {
    const r = usageCost(usage(1000, 500), model, priceOf);
    assert.deepEqual(r, { nano: 3_000_000 + 7_500_000, unknown: [] });
  });

  it('adds every other resource at its own price', () => {
    const r = usageCost(usage(1000, 500, { email: 3, sms: 2 }), model, priceOf);
    assert.deepEqual(r, { nano: 10_500_000 + 3_000_000 + 15_000_000, unknown: [] });
    assert.equal(nanoToUsd(r.nano), 0.0285);
  });

  it('reports unknown resources instead of pricing them silently', () => {
    const r = usageCost(usage(0, 0, { email: 1, gpu_seconds: 10, mystery: 1 }), undefined, priceOf);
    assert.equal(r.nano, 1_000_000);
    assert.deepEqual(r.unknown, ['gpu_seconds', 'mystery']);
  });

  it('a known resource priced at zero is free but not unknown', () => {
    assert.deepEqual(usageCost(usage(0, 0, { free: 1000 }), undefined, priceOf), { nano: 0, unknown: [] });
  });

  it('does not treat Object prototype names as priced resources', () => {
    const r = usageCost(usage(0, 0, { toString: 1, constructor: 2 }), undefined, priceOf);
    assert.deepEqual(r, { nano: 0, unknown: ['toString', 'constructor'] });
  });

  it('without a model price, tokens are not charged', () => {
    assert.deepEqual(usageCost(usage(1000, 1000), undefined, priceOf), { nano: 0, unknown: [] });
  });

  it('zero usage costs zero', () => {
    assert.deepEqual(usageCost(ZERO_USAGE, model, priceOf), { nano: 0, unknown: [] });
    assert.ok(Object.isFrozen(ZERO_USAGE));
    assert.deepEqual(ZERO_USAGE, { tokens: { input: 0, output: 0 }, resources: {} });
  });

  it('rounds once per request, not once per line item', () => {
    // 0.4 nano of tokens + 0.4 nano of one resource + 0.4 nano of another = 1.2 nano → 1.
    const tiny: Price = { costPerUnitUsd: 0.4e-9 };
    const r = usageCost(usage(1, 0, { a: 1, b: 1 }), tiny, () => tiny);
    assert.equal(r.nano, 1);
  });

  it('PROPERTY: every request cost is an integer, and sums of them are exact in any order', () => {
    const usageArb = fc.record({
      tokens: fc.record({ input: fc.nat({ max: 200_000 }), output: fc.nat({ max: 200_000 }) }),
      resources: fc.dictionary(fc.constantFrom('email', 'sms', 'free', 'unknown'), fc.nat({ max: 1000 })),
    });
    const priceArb = fc.record({
      costPerUnitUsd: fc.double({ min: 0, max: 0.001, noNaN: true }),
      inputCostPerUnitUsd: fc.option(fc.double({ min: 0, max: 0.001, noNaN: true }), { nil: undefined }),
      outputCostPerUnitUsd: fc.option(fc.double({ min: 0, max: 0.001, noNaN: true }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(usageArb, fc.option(priceArb, { nil: undefined })), { minLength: 1, maxLength: 50 }), (reqs) => {
        const costs = reqs.map(([u, p]) => usageCost(u, p, priceOf));
        for (const [i, c] of costs.entries()) {
          assert.ok(Number.isSafeInteger(c.nano), `cost ${c.nano} is an integer`);
          assert.ok(c.nano >= 0);
          const [u] = reqs[i] as [Usage, Price | undefined];
          assert.equal(c.unknown.includes('unknown'), Object.hasOwn(u.resources, 'unknown'));
        }
        const nanos = costs.map((c) => c.nano);
        const forward = nanos.reduce((a, b) => a + b, 0);
        const backward = nanos.toReversed().reduce((a, b) => a + b, 0);
        const sorted = nanos.toSorted((a, b) => a - b).reduce((a, b) => a + b, 0);
        assert.ok(Number.isSafeInteger(forward));
        assert.equal(forward, backward);
        assert.equal(forward, sorted);
        // A client total is exactly the sum of its requests: taking one away leaves the others.
        assert.equal(forward - (nanos[0] as number), nanos.slice(1).reduce((a, b) => a + b, 0));
      }),
      { numRuns: 300 },
    );
  });
});
