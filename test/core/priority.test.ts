import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MINUTE } from '../../src/core/clock.ts';
import { LEVELS, URGENCIES, URGENCY_POINTS, levelFor, score, waitPoints, type Urgency } from '../../src/core/priority.ts';

const T = 10 * MINUTE;

describe('SPEC priority table', () => {
  it('urgency points: critical 30, high 20, normal 10, low 0', () => {
    assert.deepEqual({ ...URGENCY_POINTS }, { critical: 30, high: 20, normal: 10, low: 0 });
    assert.deepEqual([...URGENCIES], ['critical', 'high', 'normal', 'low']);
    assert.ok(Object.isFrozen(URGENCY_POINTS));
  });

  it('levels, best first', () => {
    assert.deepEqual([...LEVELS], ['immediate', 'fast', 'normal', 'batch', 'deferred']);
  });
});

describe('waitPoints', () => {
  it('is linear from 0 to 20, reaching 20 at the starvation threshold', () => {
    assert.equal(waitPoints(0, T), 0);
    assert.equal(waitPoints(T / 4, T), 5);
    assert.equal(waitPoints(T / 2, T), 10);
    assert.equal(waitPoints((3 * T) / 4, T), 15);
    assert.equal(waitPoints(T, T), 20);
  });

  it('stays at 20 past the threshold', () => {
    assert.equal(waitPoints(T + 1, T), 20);
    assert.equal(waitPoints(100 * T, T), 20);
  });

  it('a negative wait (clock went back) counts 0', () => {
    assert.equal(waitPoints(-1, T), 0);
    assert.equal(waitPoints(-5 * T, T), 0);
  });

  it('a zero or negative threshold means everything is starved: 20', () => {
    assert.equal(waitPoints(0, 0), 20);
    assert.equal(waitPoints(-100, -1), 20);
  });

  it('PROPERTY: within [0, 20] and non-decreasing in wait', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e8 }), (w, dw, t) => {
        const a = waitPoints(w, t);
        const b = waitPoints(w + dw, t);
        assert.ok(a >= 0 && a <= 20);
        assert.ok(b >= a);
      }),
    );
  });
});

describe('score', () => {
  it('sums tier + urgency + wait + fairness, with each part reported', () => {
    assert.deepEqual(score(40, 'critical', T, T, 10), { total: 100, parts: { tier: 40, urgency: 30, wait: 20, fairness: 10 } });
    assert.deepEqual(score(0, 'low', 0, T, 0), { total: 0, parts: { tier: 0, urgency: 0, wait: 0, fairness: 0 } });
    assert.deepEqual(score(10, 'normal', T / 2, T, 5), { total: 35, parts: { tier: 10, urgency: 10, wait: 10, fairness: 5 } });
    assert.deepEqual(score(25, 'high', T / 4, T, 2.5), { total: 52.5, parts: { tier: 25, urgency: 20, wait: 5, fairness: 2.5 } });
  });

  it('each urgency contributes its points', () => {
    const expected: Record<Urgency, number> = { critical: 30, high: 20, normal: 10, low: 0 };
    for (const u of URGENCIES) {
      const s = score(20, u, 0, T, 0);
      assert.equal(s.parts.urgency, expected[u]);
      assert.equal(s.total, 20 + expected[u]);
    }
  });

  it('tier is clamped to 0-40 and fairness to 0-10', () => {
    assert.equal(score(55, 'low', 0, T, 0).parts.tier, 40);
    assert.equal(score(-5, 'low', 0, T, 0).parts.tier, 0);
    assert.equal(score(0, 'low', 0, T, 12).parts.fairness, 10);
    assert.equal(score(0, 'low', 0, T, -3).parts.fairness, 0);
    assert.equal(score(99, 'critical', 99 * T, T, 99).total, 100);
  });

  it('negative wait (clock went back) adds nothing', () => {
    const s = score(10, 'normal', -T, T, 0);
    assert.equal(s.parts.wait, 0);
    assert.equal(s.total, 20);
  });

  it('wait and fairness are rounded to 2 decimals and the total is consistent', () => {
    const s = score(10, 'normal', T / 3, T, 10 / 3);
    assert.equal(s.parts.wait, 6.67);
    assert.equal(s.parts.fairness, 3.33);
    assert.equal(s.total, 30);
  });

  it('20 wait points alone cannot lift basic-low over enterprise-critical (why starvation exists)', () => {
    const basic = score(10, 'low', 100 * T, T, 10).total;
    const ent = score(40, 'critical', 0, T, 0).total;
    assert.equal(basic, 40);
    assert.equal(ent, 70);
    assert.ok(basic < ent);
  });

  it('PROPERTY: total in [0, 100], equals the rounded sum of the parts; parts within their ranges', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.constantFrom(...URGENCIES),
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.integer({ min: 1, max: 1e8 }),
        fc.double({ min: -20, max: 20, noNaN: true }),
        (tier, u, waited, t, fair) => {
          const s = score(tier, u, waited, t, fair);
          assert.ok(s.total >= 0 && s.total <= 100, String(s.total));
          assert.ok(s.parts.tier >= 0 && s.parts.tier <= 40);
          assert.ok(s.parts.wait >= 0 && s.parts.wait <= 20);
          assert.ok(s.parts.fairness >= 0 && s.parts.fairness <= 10);
          const sum = s.parts.tier + s.parts.urgency + s.parts.wait + s.parts.fairness;
          assert.ok(Math.abs(s.total - sum) <= 0.005 + 1e-9);
          assert.equal(Math.round(s.total * 100) / 100, s.total);
        },
      ),
    );
  });
});

describe('levelFor', () => {
  it('thresholds: ≥80 immediate, ≥60 fast, ≥30 normal, else batch', () => {
    const cases: [number, string][] = [
      [100, 'immediate'],
      [80, 'immediate'],
      [79.99, 'fast'],
      [60, 'fast'],
      [59.99, 'normal'],
      [30, 'normal'],
      [29.99, 'batch'],
      [0, 'batch'],
    ];
    for (const [t, level] of cases) assert.equal(levelFor(t), level, String(t));
  });

  it('a score alone never defers work', () => {
    for (let t = -10; t <= 110; t += 0.5) assert.notEqual(levelFor(t), 'deferred');
  });

  it('explicit batch or deferred overrides the score, even a perfect one', () => {
    assert.equal(levelFor(100, 'batch'), 'batch');
    assert.equal(levelFor(100, 'deferred'), 'deferred');
    assert.equal(levelFor(0, 'deferred'), 'deferred');
    assert.equal(levelFor(50, undefined), 'normal');
  });

  it('matches the score of typical requests', () => {
    assert.equal(levelFor(score(40, 'critical', 0, T, 10).total), 'immediate'); // 80
    assert.equal(levelFor(score(40, 'high', 0, T, 0).total), 'fast'); // 60
    assert.equal(levelFor(score(10, 'normal', 0, T, 10).total), 'normal'); // 30
    assert.equal(levelFor(score(10, 'low', 0, T, 10).total), 'batch'); // 20
  });
});
