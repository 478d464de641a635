/**
 * The scheduling simulator's scenarios (bench/sched, `npm run bench:sched`),
 * shortened, with their targets as assertions. Each scenario runs the real
 * Allot wiring (buildAllot: SQLite store, admission, scheduler, ledger, run
 * queue) on a virtual clock, with a zero-service-time SDK worker on loopback.
 *
 * Targets the current scheduler misses are `todo` tests: they run, report
 * the gap, and do not fail the suite. Each says what it measured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { full as FULL, short as P } from '../../bench/sched/params.ts';
import { accuracy, accuracyIdleBoundMs, budget, fairness, large, largeBoundMs, reserved, reservedBoundMs, tiers } from '../../bench/sched/scenarios.ts';

const f4 = (v: number): string => v.toFixed(4);

describe('scheduling simulator (shortened bench:sched scenarios)', () => {
  describe('a: equal-tier clients flooding one pool (holds off, to isolate fairness)', () => {
    test('floods of equal size share the pool evenly: Jain index ≥ 0.99, pool fully used', async () => {
      const r = await fairness(P.fairEqual);
      assert.deepEqual(r.failures, []);
      assert.ok(r.jain >= 0.99, `Jain ${f4(r.jain)}; admitted ${r.admitted.join(', ')}`);
      assert.ok(r.jainSecondHalf >= 0.99, `Jain over the second half ${f4(r.jainSecondHalf)}`);
      assert.ok(r.utilization >= 0.99, `utilization ${f4(r.utilization)}`);
    });

    // Measured: Jain 0.9924 over 60 s, 0.9805 over 300 s (0.9706 in its second half). Fairness points
    // (0-10) are a fixed offset against aging (20 points per starvation_ms), so the older a heavy
    // client's backlog, the more its age outweighs its fairness penalty.
    test('floods of different sizes (1.5× to 6× the fair share) over 60 s: Jain index ≥ 0.99', async () => {
      const r = await fairness(P.fairUnequal);
      assert.deepEqual(r.failures, []);
      assert.ok(r.jain >= 0.99, `Jain ${f4(r.jain)}; admitted ${r.admitted.join(', ')}`);
      assert.ok(r.utilization >= 0.99, `utilization ${f4(r.utilization)}`);
    });

    test('floods of different sizes over 300 s (the bench run): Jain index ≥ 0.99', { todo: 'aging outweighs fairness for old backlogs: Jain 0.9805 over 300 s (0.9706 in its second half)' }, async () => {
      const r = await fairness(FULL.fairUnequal);
      assert.ok(r.jain >= 0.99, `Jain ${f4(r.jain)}; admitted ${r.admitted.join(', ')}`);
    });
  });

  describe('b: tiers under saturation (higher tiers alone fill the pool)', () => {
    test('the basic tier waits less than the starvation bound (starvation_ms + refill time of one request + one step)', async () => {
      for (const p of [P.tiers, P.tiersNoHold]) {
        const r = await tiers(p);
        assert.deepEqual(r.failures, []);
        const basic = r.tiers.basic;
        assert.ok(basic && basic.admitted > 0, 'basic requests ran');
        assert.ok(basic.maxWaitMs < r.boundMs, `hold_after ${p.holdAfterMs}: basic max wait ${basic.maxWaitMs} ms, bound ${r.boundMs} ms`);
        for (const [tier, t] of Object.entries(r.tiers)) assert.ok(t.admitted > 0, `${tier} got nothing`);
      }
    });

    test('with holds on, a saturated pool stays fully used and enterprise does not wait for the hold', async () => {
      const r = await tiers(P.tiers);
      assert.ok(r.utilization >= 0.99, `utilization ${f4(r.utilization)}`);
      const ent = r.tiers.enterprise;
      assert.ok(ent && ent.p99WaitMs < P.tiers.holdAfterMs, `enterprise p99 wait ${ent?.p99WaitMs} ms`);
    });
  });

  test('c: a large request among small ones waits about hold_after + its refill time, not in proportion to the stream', async () => {
    const bound = largeBoundMs(P.large);
    const a = await large(P.large);
    const b = await large({ ...P.large, streamMs: P.large.streamMs * 2 });
    assert.deepEqual([...a.failures, ...b.failures], []);
    assert.ok(a.waitMs !== null && a.waitMs <= bound, `stream ${P.large.streamMs} ms: waited ${a.waitMs} ms, bound ${bound} ms`);
    assert.ok(b.waitMs !== null && b.waitMs <= bound, `stream ${P.large.streamMs * 2} ms: waited ${b.waitMs} ms, bound ${bound} ms`);
    assert.ok(b.waitMs / a.waitMs <= 1.1, `waits ${a.waitMs} / ${b.waitMs} ms`);

    // The same comparison tells a proportional wait apart: without the hold, the wait follows the stream.
    const c = await large(P.largeNoHold);
    const d = await large({ ...P.largeNoHold, streamMs: P.largeNoHold.streamMs * 2 });
    assert.ok(c.waitMs !== null && d.waitMs !== null, 'the large request ran once the stream ended');
    assert.ok(c.waitMs > bound && d.waitMs / c.waitMs >= 1.5, `holds off: waits ${c.waitMs} / ${d.waitMs} ms`);
  });

  test('d: 200 concurrent requests against a $1 budget ($0.05 worst case): 20 admitted, spent ≤ $1.00, no client over budget', async () => {
    const r = await budget(P.budget);
    assert.deepEqual(r.failures, []);
    // The budget fits exactly 20 worst cases: more would overspend, fewer would be a needless rejection.
    assert.equal(r.admitted, 20);
    assert.deepEqual(r.rejected, { BUDGET_EXCEEDED: P.budget.requests - 20 });
    assert.ok(r.spentUsd <= P.budget.budgetUsd, `spent $${r.spentUsd}`);
    assert.equal(r.completed, r.admitted);
    assert.equal(r.heldUsdAtEnd, 0, 'holds released');
    for (const c of r.clients) {
      assert.ok(c.spentUsd <= c.budgetUsd + 1e-9, `${c.name} spent $${c.spentUsd} of $${c.budgetUsd}`);
      assert.ok(c.admitted <= c.maxAdmissible, `${c.name} admitted ${c.admitted}, at most ${c.maxAdmissible} fit`);
    }
  });

  describe('e: bucket accuracy under saturation', () => {
    test('taken ÷ (capacity + refill × time) is ≤ 1.000 over every interval and ≥ 0.99 over the run (holds off)', async () => {
      for (const p of [P.accuracyNoHold, P.accuracyPartialUse]) {
        const r = await accuracy(p);
        assert.deepEqual(r.failures, []);
        assert.ok(r.admitted > 0);
        assert.ok(r.worst.ratio <= 1 + 1e-9, `use ${p.use}: worst interval ${r.worst.fromMs}-${r.worst.toMs} ms took ${f4(r.worst.ratio)} of the allowance`);
        assert.ok(r.ratio <= 1 + 1e-9 && r.ratio >= 0.99, `use ${p.use}: ratio ${f4(r.ratio)}`);
        assert.ok(r.longestIdleMs <= accuracyIdleBoundMs(p), `use ${p.use}: idle for ${r.longestIdleMs} ms with requests queued`);
      }
    });

    test('with holds on, the bucket still never admits more than capacity + refill × time', async () => {
      const r = await accuracy(P.accuracyDefault);
      assert.deepEqual(r.failures, []);
      assert.ok(r.worst.ratio <= 1 + 1e-9, `worst interval ratio ${f4(r.worst.ratio)}`);
      assert.ok(r.ratio <= 1 + 1e-9, `ratio ${f4(r.ratio)}`);
    });

    test('with holds on, a saturated bucket keeps admitting: ratio ≥ 0.99', async () => {
      const r = await accuracy(P.accuracyDefault);
      assert.ok(r.ratio >= 0.99, `ratio ${f4(r.ratio)}`);
      assert.ok(r.longestIdleMs <= accuracyIdleBoundMs(P.accuracyDefault), `idle for ${r.longestIdleMs} ms with requests queued`);
    });
  });

  describe('f: a reserved pool lent while its owner is idle, reclaimed when it returns (holds off)', () => {
    test('lent: borrowers use the whole resource while the owner is idle; an owner of a higher tier waits at most its own refill time', async () => {
      const p = P.reservedHigherTier;
      const r = await reserved(p);
      assert.deepEqual(r.failures, []);
      assert.ok(r.lentUtilization >= 0.99, `utilization while lent ${f4(r.lentUtilization)}`);
      assert.equal(r.ownerAdmitted, r.ownerSubmitted);
      assert.ok(r.maxWaitMs <= reservedBoundMs(p), `owner waits: first ${r.firstWaitMs}, max ${r.maxWaitMs} ms; bound ${reservedBoundMs(p)} ms`);
    });

    test('an owner of the borrowers\' tier also waits at most its own refill time', async () => {
      const p = P.reservedSameTier;
      const r = await reserved(p);
      assert.ok(r.lentUtilization >= 0.99, `utilization while lent ${f4(r.lentUtilization)}`);
      assert.ok(r.maxWaitMs <= reservedBoundMs(p), `owner waits: first ${r.firstWaitMs}, max ${r.maxWaitMs} ms; bound ${reservedBoundMs(p)} ms; ${r.ownerAdmitted} of ${r.ownerSubmitted} admitted`);
    });
  });
});
