import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock, SECOND } from '../../src/core/clock.ts';
import {
  debit,
  fullBucket,
  giveBack,
  refill,
  setLevel,
  waitFor,
  type BucketSpec,
  type BucketState,
} from '../../src/core/token-bucket.ts';

const spec: BucketSpec = { capacity: 10, refillPerS: 2 };
const empty = (now: number): BucketState => ({ level: 0, updatedAt: now });

describe('fullBucket', () => {
  it('starts at capacity, credited up to now', () => {
    assert.deepEqual(fullBucket(spec, 123), { level: 10, updatedAt: 123 });
  });
});

describe('refill', () => {
  it('adds refillPerS per second of elapsed time, including fractions of a second', () => {
    const c = new FakeClock();
    const s0 = empty(c.now());
    c.advance(3 * SECOND);
    assert.deepEqual(refill(spec, s0, c.now()), { level: 6, updatedAt: c.now() });
    assert.equal(refill(spec, s0, s0.updatedAt + 500).level, 1);
    assert.equal(refill(spec, s0, s0.updatedAt + 1).level, 0.002);
  });

  it('caps at capacity however long the bucket was idle', () => {
    const c = new FakeClock();
    const s0 = { level: 7, updatedAt: c.now() };
    assert.equal(refill(spec, s0, c.now() + 1500).level, 10);
    assert.equal(refill(spec, s0, c.now() + 1000 * SECOND).level, 10);
    assert.equal(refill(spec, fullBucket(spec, 0), 1e12).level, 10);
  });

  it('no elapsed time changes nothing', () => {
    const s0 = { level: 4, updatedAt: 5000 };
    assert.deepEqual(refill(spec, s0, 5000), s0);
  });

  it('time going backwards credits nothing and does not move updatedAt back', () => {
    const s0 = { level: 4, updatedAt: 5000 };
    const s1 = refill(spec, s0, 1000);
    assert.deepEqual(s1, { level: 4, updatedAt: 5000 });
  });

  it('after the clock goes back and forward again, the same stretch is not credited twice', () => {
    // t=0 level 0; clock back to -5s; forward to +1s: level = refill × 1s, not × 6s.
    const c = new FakeClock(0);
    let s = empty(c.now());
    c.set(-5 * SECOND);
    s = refill(spec, s, c.now());
    assert.deepEqual(s, { level: 0, updatedAt: 0 });
    c.set(1 * SECOND);
    s = refill(spec, s, c.now());
    assert.deepEqual(s, { level: 2, updatedAt: 1000 });
  });

  it('moving back and forth repeatedly credits only the forward progress beyond the furthest time seen', () => {
    const c = new FakeClock(0);
    let s = empty(0);
    for (const t of [1000, -4000, 500, 800, 1000, 1500, -100000, 2000]) {
      c.set(t);
      s = refill(spec, s, c.now());
    }
    // Furthest time seen is 2000: 2 s of refill = 4 units.
    assert.deepEqual(s, { level: 4, updatedAt: 2000 });
  });
});

describe('waitFor', () => {
  it('is 0 when the amount is there, Infinity above capacity, else the exact ceil', () => {
    assert.equal(waitFor(spec, { level: 5, updatedAt: 0 }, 5, 0), 0);
    assert.equal(waitFor(spec, { level: 5, updatedAt: 0 }, 0, 0), 0);
    assert.equal(waitFor(spec, { level: 5, updatedAt: 0 }, 11, 0), Infinity);
    assert.equal(waitFor(spec, { level: 5, updatedAt: 0 }, 10, 0), 2500);
    assert.equal(waitFor(spec, { level: 0, updatedAt: 0 }, 0.001, 0), 1);
    assert.equal(waitFor({ capacity: 10, refillPerS: 0 }, { level: 5, updatedAt: 0 }, 6, 0), Infinity);
  });

  it('includes the debt to repay when the level is negative', () => {
    assert.equal(waitFor(spec, { level: -4, updatedAt: 0 }, 2, 0), 3000);
    assert.equal(waitFor(spec, { level: -4, updatedAt: 0 }, 0, 0), 2000);
  });

  it('credits refill up to now first, so a state that was not refilled yet gives the same answer', () => {
    assert.equal(waitFor(spec, { level: 0, updatedAt: 0 }, 10, 2000), 3000);
    assert.equal(waitFor(spec, { level: 4, updatedAt: 2000 }, 10, 2000), 3000);
    assert.equal(waitFor(spec, { level: 0, updatedAt: 0 }, 4, 2000), 0);
  });

  it('when the clock is behind updatedAt, adds the time until it catches up (nothing refills before)', () => {
    // The example of the bug report: credited up to 10 s, empty, now 5 s.
    assert.equal(waitFor(spec, empty(10_000), 2, 5000), 6000);
    assert.equal(waitFor(spec, { level: -4, updatedAt: 10_000 }, 2, 9000), 4000);
    // What is there can still be taken at once; a never-refilling bucket never gets more.
    assert.equal(waitFor(spec, { level: 3, updatedAt: 10_000 }, 2, 5000), 0);
    assert.equal(waitFor({ capacity: 10, refillPerS: 0 }, { level: 3, updatedAt: 10_000 }, 4, 5000), Infinity);
    assert.equal(waitFor(spec, empty(10_000), 11, 5000), Infinity);
  });
});

describe('giveBack', () => {
  it('returns unused units', () => {
    assert.deepEqual(giveBack(spec, { level: 2, updatedAt: 0 }, 3, 0), { level: 5, updatedAt: 0 });
  });

  it('never lifts the level above capacity', () => {
    assert.equal(giveBack(spec, { level: 8, updatedAt: 0 }, 5, 0).level, 10);
    assert.equal(giveBack(spec, fullBucket(spec, 0), 100, 0).level, 10);
  });

  it('credits refill first, then caps the sum', () => {
    const s = giveBack(spec, { level: 6, updatedAt: 0 }, 3, 1000); // 6 + 2 refill + 3 → capped
    assert.deepEqual(s, { level: 10, updatedAt: 1000 });
    const s2 = giveBack(spec, { level: 2, updatedAt: 0 }, 3, 1000);
    assert.deepEqual(s2, { level: 7, updatedAt: 1000 });
  });

  it('ignores a negative amount', () => {
    assert.deepEqual(giveBack(spec, { level: 4, updatedAt: 0 }, -3, 0), { level: 4, updatedAt: 0 });
  });

  it('repays debt first when the level is negative', () => {
    assert.equal(giveBack(spec, { level: -4, updatedAt: 0 }, 3, 0).level, -1);
  });
});

describe('debit', () => {
  it('may take the level negative', () => {
    assert.deepEqual(debit(spec, { level: 1, updatedAt: 0 }, 5, 0), { level: -4, updatedAt: 0 });
  });

  it('ignores a negative amount', () => {
    assert.deepEqual(debit(spec, { level: 1, updatedAt: 0 }, -5, 0), { level: 1, updatedAt: 0 });
  });

  it('the debt is bounded: the level never goes below -capacity, however much is reported', () => {
    assert.deepEqual(debit(spec, { level: 1, updatedAt: 0 }, 1_000_000, 0), { level: -spec.capacity, updatedAt: 0 });
    assert.deepEqual(debit(spec, { level: -spec.capacity, updatedAt: 0 }, 1, 0), { level: -spec.capacity, updatedAt: 0 });
    // So the resource is back within two full refills.
    assert.equal(waitFor(spec, { level: -spec.capacity, updatedAt: 0 }, spec.capacity, 0), Math.ceil((2 * spec.capacity * 1000) / spec.refillPerS));
  });

  it('debt is repaid by refill before anything fits', () => {
    const c = new FakeClock(0);
    const s = debit(spec, empty(c.now()), 4, c.now()); // level -4
    assert.equal(waitFor(spec, s, 1, c.now()), 2500);
    c.advance(2000);
    assert.equal(refill(spec, s, c.now()).level, 0);
    assert.equal(waitFor(spec, s, 1, c.now()), 500);
    c.advance(499);
    assert.equal(waitFor(spec, s, 1, c.now()), 1);
    c.advance(1);
    assert.equal(waitFor(spec, s, 1, c.now()), 0);
  });

  it('even nothing fits while in debt', () => {
    assert.equal(waitFor(spec, { level: -0.5, updatedAt: 0 }, 0, 0), 250);
  });
});

// ---------------------------------------------------------------------------
// Properties

const specArb: fc.Arbitrary<BucketSpec> = fc.record({
  capacity: fc.double({ min: 0.5, max: 12, noNaN: true }),
  refillPerS: fc.double({ min: 0, max: 5, noNaN: true }),
});

describe('token-bucket properties', () => {
  it('level never exceeds capacity, nor goes below −capacity, with overruns (debits), gives back, resets and backwards clocks', () => {
    fc.assert(
      fc.property(
        specArb,
        fc.array(
          fc.record({
            kind: fc.constantFrom('give', 'debit', 'set', 'clock'),
            a: fc.double({ min: 0, max: 20, noNaN: true }),
            b: fc.double({ min: 0, max: 20, noNaN: true }),
            d: fc.integer({ min: -30_000, max: 30_000 }),
          }),
          { maxLength: 60 },
        ),
        (sp, ops) => {
          const c = new FakeClock(0);
          let s = fullBucket(sp, c.now());
          let maxSeen = c.now();
          for (const op of ops) {
            if (op.kind === 'clock') c.advance(op.d);
            else if (op.kind === 'give') s = giveBack(sp, s, op.a, c.now());
            else if (op.kind === 'debit') s = debit(sp, s, op.a, c.now());
            else s = setLevel(sp, s, op.a - op.b, c.now());
            if (op.kind !== 'clock') maxSeen = Math.max(maxSeen, c.now());
            assert.ok(s.level <= sp.capacity);
            assert.ok(s.level >= -sp.capacity, 'debt never exceeds the capacity');
            assert.equal(s.updatedAt, maxSeen, 'credited exactly up to the furthest time seen');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('waiting waitMs is enough and waiting 1 ms less is not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: -5000, max: 0 }),
        (capacity, refillPerS, level, amount, now) => {
          // now < 0: the clock is behind the time refill was credited up to.
          const sp = { capacity, refillPerS };
          const s = { level: Math.min(level, capacity), updatedAt: 0 };
          const w = waitFor(sp, s, amount, now);
          if (amount > capacity) {
            assert.equal(w, Infinity);
            return;
          }
          const fits = (t: number): boolean => amount <= refill(sp, s, t).level;
          if (w === 0) {
            assert.ok(fits(now));
            return;
          }
          assert.ok(Number.isInteger(w) && w > 0);
          assert.equal(fits(now + w), true);
          assert.equal(fits(now + w - 1), false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
