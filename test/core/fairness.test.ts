import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock, MINUTE } from '../../src/core/clock.ts';
import { addUsage, decayTo, fairnessPoints } from '../../src/core/fairness.ts';

const H = 5 * MINUTE; // half-life

describe('decayTo', () => {
  it('halves exactly every half-life', () => {
    const c = new FakeClock();
    const d0 = { value: 1000, updatedAt: c.now() };
    c.advance(H);
    assert.deepEqual(decayTo(d0, c.now(), H), { value: 500, updatedAt: c.now() });
    c.advance(H);
    assert.equal(decayTo(d0, c.now(), H).value, 250);
    assert.equal(decayTo(d0, d0.updatedAt + 10 * H, H).value, 1000 / 1024);
  });

  it('decays continuously between half-lives', () => {
    const d0 = { value: 1000, updatedAt: 0 };
    assert.ok(Math.abs(decayTo(d0, H / 2, H).value - 1000 / Math.SQRT2) < 1e-9);
  });

  it('is path-independent: decaying in steps equals decaying at once', () => {
    const d0 = { value: 1000, updatedAt: 0 };
    let d = d0;
    for (let i = 1; i <= 10; i++) d = decayTo(d, (i * H) / 5, H);
    assert.ok(Math.abs(d.value - 250) < 1e-9);
    assert.equal(d.updatedAt, 2 * H);
  });

  it('no elapsed time changes nothing', () => {
    const d0 = { value: 7, updatedAt: 100 };
    assert.deepEqual(decayTo(d0, 100, H), d0);
  });

  it('time going backwards decays nothing and does not move updatedAt back', () => {
    const c = new FakeClock(0);
    const d0 = { value: 8, updatedAt: c.now() };
    c.set(-H);
    const d1 = decayTo(d0, c.now(), H);
    assert.deepEqual(d1, { value: 8, updatedAt: 0 });
    // Going forward to +H decays one half-life from 0, not two.
    c.set(H);
    assert.deepEqual(decayTo(d1, c.now(), H), { value: 4, updatedAt: H });
  });
});

describe('addUsage', () => {
  it('decays the old value to now, then adds', () => {
    const d = addUsage({ value: 100, updatedAt: 0 }, 10, H, H);
    assert.deepEqual(d, { value: 60, updatedAt: H });
  });

  it('with the clock behind, adds without decaying or moving updatedAt back', () => {
    const d = addUsage({ value: 100, updatedAt: H }, 10, 0, H);
    assert.deepEqual(d, { value: 110, updatedAt: H });
  });

  it('two clients with the same usage pattern have the same value; recent usage weighs more', () => {
    let early = { value: 0, updatedAt: 0 };
    let late = { value: 0, updatedAt: 0 };
    early = addUsage(early, 100, 0, H);
    late = addUsage(late, 100, 2 * H, H);
    assert.equal(decayTo(early, 2 * H, H).value, 25);
    assert.equal(decayTo(late, 2 * H, H).value, 100);
  });

  it('PROPERTY: value never negative, never above total added, and updatedAt never goes back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -H, max: 3 * H }), fc.nat({ max: 1000 })), { maxLength: 40 }),
        (steps) => {
          let d = { value: 0, updatedAt: 0 };
          let now = 0;
          let total = 0;
          for (const [dt, amount] of steps) {
            now += dt;
            const before = d.updatedAt;
            d = addUsage(d, amount, now, H);
            total += amount;
            assert.ok(d.value >= 0);
            assert.ok(d.value <= total + 1e-9);
            assert.equal(d.updatedAt, Math.max(before, now));
          }
        },
      ),
    );
  });
});

describe('fairnessPoints', () => {
  it('a single (or no) active client always gets 10', () => {
    for (const share of [0, 0.5, 1]) {
      assert.equal(fairnessPoints(share, 1), 10);
      assert.equal(fairnessPoints(share, 0), 10);
    }
  });

  it('10 at or below the fair share', () => {
    assert.equal(fairnessPoints(0, 4), 10);
    assert.equal(fairnessPoints(0.1, 4), 10);
    assert.equal(fairnessPoints(0.25, 4), 10);
    assert.equal(fairnessPoints(0.5, 2), 10);
  });

  it('falls linearly from 10 at the fair share to 0 at 1.5 times the fair share', () => {
    assert.equal(fairnessPoints(0.375, 4), 0); // 1.5 × 0.25
    assert.equal(fairnessPoints(1, 4), 0);
    assert.equal(fairnessPoints(0.3125, 4), 5); // halfway between 0.25 and 0.375
    assert.ok(Math.abs(fairnessPoints(0.28125, 4) - 7.5) < 1e-12);
    assert.equal(fairnessPoints(0.625, 2), 5);
    assert.equal(fairnessPoints(0.75, 2), 0);
    assert.equal(fairnessPoints(1, 2), 0);
  });

  it('never negative above a 100% share', () => {
    assert.equal(fairnessPoints(1.5, 4), 0);
  });

  it('PROPERTY: in [0, 10], non-increasing in share, and exactly the linear formula above the fair share', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 2, max: 1000 }),
        (a, b, n) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const pLo = fairnessPoints(lo, n);
          const pHi = fairnessPoints(hi, n);
          assert.ok(pLo >= 0 && pLo <= 10 && pHi >= 0 && pHi <= 10);
          assert.ok(pHi <= pLo + 1e-12);
          const fair = 1 / n;
          const expected = hi <= fair ? 10 : Math.max(0, 10 * (1 - (2 * (hi - fair)) / fair));
          assert.ok(Math.abs(pHi - expected) < 1e-9, `${pHi} vs ${expected}`);
        },
      ),
    );
  });
});
