import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock, SECOND } from '../../src/core/clock.ts';
import {
  debit,
  fullBucket,
  giveBack,
  refill,
  settle,
  tryTake,
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
    const t = tryTake(spec, s, 1, c.now());
    assert.equal(t.ok, false);
    s = t.state;
    assert.equal(s.updatedAt, 0);
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

describe('tryTake', () => {
  it('takes when the bucket holds the amount, leaving the rest', () => {
    const c = new FakeClock();
    const r = tryTake(spec, fullBucket(spec, c.now()), 4, c.now());
    assert.deepEqual(r, { ok: true, state: { level: 6, updatedAt: c.now() }, waitMs: 0 });
  });

  it('can take exactly the whole level', () => {
    const r = tryTake(spec, fullBucket(spec, 0), 10, 0);
    assert.equal(r.ok, true);
    assert.equal(r.state.level, 0);
  });

  it('credits refill before deciding', () => {
    const s0 = { level: 1, updatedAt: 0 };
    const r = tryTake(spec, s0, 3, 1000); // 1 + 2 = 3
    assert.equal(r.ok, true);
    assert.deepEqual(r.state, { level: 0, updatedAt: 1000 });
  });

  it('refuses when short, returns the refilled state and the exact wait', () => {
    const s0 = { level: 3, updatedAt: 0 };
    const r = tryTake(spec, s0, 5, 0);
    assert.equal(r.ok, false);
    assert.deepEqual(r.state, s0);
    assert.equal(r.waitMs, 1000); // need 2 more at 2/s
    const r2 = tryTake(spec, s0, 5, 250); // level 3.5, need 1.5 → 750ms
    assert.equal(r2.ok, false);
    assert.deepEqual(r2.state, { level: 3.5, updatedAt: 250 });
    assert.equal(r2.waitMs, 750);
  });

  it('waitMs is rounded up to a whole ms, and is the earliest time the take succeeds', () => {
    const s3: BucketSpec = { capacity: 10, refillPerS: 3 };
    const c = new FakeClock(0);
    const s0 = empty(c.now());
    const r = tryTake(s3, s0, 1, c.now());
    assert.equal(r.ok, false);
    assert.equal(r.waitMs, 334); // ceil(1000 / 3)
    assert.equal(tryTake(s3, r.state, 1, c.now() + 333).ok, false);
    assert.equal(tryTake(s3, r.state, 1, c.now() + 334).ok, true);
  });

  it('a failed take consumes nothing', () => {
    const s0 = { level: 3, updatedAt: 0 };
    const r = tryTake(spec, s0, 5, 0);
    const r2 = tryTake(spec, r.state, 3, 0);
    assert.equal(r2.ok, true);
    assert.equal(r2.state.level, 0);
  });

  it('an amount above capacity can never be taken: waitMs Infinity, even when full', () => {
    const r = tryTake(spec, fullBucket(spec, 0), 10.5, 0);
    assert.equal(r.ok, false);
    assert.equal(r.waitMs, Infinity);
    assert.deepEqual(r.state, fullBucket(spec, 0));
  });

  it('a bucket that never refills reports Infinity when short, but still serves what it holds', () => {
    const frozen: BucketSpec = { capacity: 10, refillPerS: 0 };
    const r = tryTake(frozen, { level: 5, updatedAt: 0 }, 6, 100_000);
    assert.equal(r.ok, false);
    assert.equal(r.waitMs, Infinity);
    assert.equal(r.state.level, 5);
    const ok = tryTake(frozen, { level: 5, updatedAt: 0 }, 5, 100_000);
    assert.equal(ok.ok, true);
    assert.equal(ok.state.level, 0);
  });

  it('with the clock behind updatedAt, takes what is there without crediting and without moving updatedAt back', () => {
    const s0 = { level: 5, updatedAt: 10_000 };
    const r = tryTake(spec, s0, 2, 4000);
    assert.equal(r.ok, true);
    assert.deepEqual(r.state, { level: 3, updatedAt: 10_000 });
    // Going forward to 11s credits only the 1 s after 10 s.
    assert.equal(refill(spec, r.state, 11_000).level, 5);
  });

  it('waitMs after the clock went backwards is the real wait from now', () => {
    // Credited up to 10 s, empty; the clock steps back to 5 s.
    const c = new FakeClock(5 * SECOND);
    const r = tryTake(spec, empty(10 * SECOND), 2, c.now());
    assert.equal(r.ok, false);
    // Waiting the advertised time must be enough.
    c.advance(r.waitMs);
    assert.equal(tryTake(spec, r.state, 2, c.now()).ok, true, `waited ${r.waitMs} ms and the take still failed`);
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
    assert.equal(tryTake(spec, empty(10_000), 2, 5000).waitMs, 6000);
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

  it('debt blocks every take until refill repays it', () => {
    const c = new FakeClock(0);
    let s = debit(spec, empty(c.now()), 4, c.now()); // level -4
    let r = tryTake(spec, s, 1, c.now());
    assert.equal(r.ok, false);
    assert.equal(r.waitMs, 2500);
    s = r.state;
    c.advance(2000); // level 0
    r = tryTake(spec, s, 1, c.now());
    assert.equal(r.ok, false);
    assert.equal(r.state.level, 0);
    assert.equal(r.waitMs, 500);
    c.advance(499);
    assert.equal(tryTake(spec, r.state, 1, c.now()).ok, false);
    c.advance(1);
    const ok = tryTake(spec, r.state, 1, c.now());
    assert.equal(ok.ok, true);
    assert.equal(ok.state.level, 0);
  });

  it('a zero-size take is refused while in debt', () => {
    const r = tryTake(spec, { level: -0.5, updatedAt: 0 }, 0, 0);
    assert.equal(r.ok, false);
    assert.equal(r.waitMs, 250);
  });
});

describe('settle', () => {
  it('returns the unused part of a reservation', () => {
    assert.deepEqual(settle(spec, { level: 2, updatedAt: 0 }, 5, 3, 0), { level: 4, updatedAt: 0 });
  });

  it('changes nothing when exactly the reservation was used', () => {
    assert.deepEqual(settle(spec, { level: 2, updatedAt: 0 }, 5, 5, 0), { level: 2, updatedAt: 0 });
  });

  it('debits an overrun, possibly into debt', () => {
    assert.deepEqual(settle(spec, { level: 2, updatedAt: 0 }, 5, 9, 0), { level: -2, updatedAt: 0 });
  });

  it('returning more than fits is capped at capacity', () => {
    assert.equal(settle(spec, { level: 9, updatedAt: 0 }, 5, 0, 0).level, 10);
  });

  it('credits refill up to now first', () => {
    assert.deepEqual(settle(spec, { level: 0, updatedAt: 0 }, 4, 1, 1000), { level: 5, updatedAt: 1000 });
  });

  it('a full reserve-then-settle cycle leaves the level as if only the used amount had been taken', () => {
    const c = new FakeClock(0);
    const r = tryTake(spec, fullBucket(spec, c.now()), 8, c.now());
    assert.equal(r.ok, true);
    const s = settle(spec, r.state, 8, 3, c.now());
    assert.equal(s.level, 7);
  });
});

// ---------------------------------------------------------------------------
// Properties

type Op =
  | { kind: 'take'; amount: number }
  | { kind: 'settle'; pick: number; usedFrac: number }
  | { kind: 'clock'; deltaMs: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('take' as const), amount: fc.double({ min: 0, max: 15, noNaN: true }) }),
  fc.record({
    kind: fc.constant('settle' as const),
    pick: fc.nat(),
    usedFrac: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
  }),
  fc.record({ kind: fc.constant('clock' as const), deltaMs: fc.integer({ min: -20_000, max: 20_000 }) }),
);

const specArb: fc.Arbitrary<BucketSpec> = fc.record({
  capacity: fc.double({ min: 0.5, max: 12, noNaN: true }),
  refillPerS: fc.double({ min: 0, max: 5, noNaN: true }),
});

describe('token-bucket properties', () => {
  it('over every interval, net taken ≤ capacity + refill × credited time; level never exceeds capacity', () => {
    fc.assert(
      fc.property(specArb, fc.boolean(), fc.array(opArb, { maxLength: 60 }), (sp, startFull, ops) => {
        const c = new FakeClock(1_000_000);
        let s: BucketState = startFull ? fullBucket(sp, c.now()) : empty(c.now());
        const reservations: number[] = [];
        let net = 0; // cumulative taken − returned
        const nets: number[] = [net];
        const at: number[] = [s.updatedAt];
        for (const op of ops) {
          if (op.kind === 'clock') {
            c.advance(op.deltaMs);
          } else if (op.kind === 'take') {
            const r = tryTake(sp, s, op.amount, c.now());
            if (r.ok) {
              net += op.amount;
              reservations.push(op.amount);
            } else {
              assert.ok(r.waitMs > 0, 'a refused take has a positive wait');
            }
            s = r.state;
          } else if (reservations.length > 0) {
            const i = op.pick % reservations.length;
            const reserved = reservations[i] as number;
            reservations.splice(i, 1);
            const used = Math.min(reserved, reserved * op.usedFrac);
            s = settle(sp, s, reserved, used, c.now());
            net -= reserved - used;
          }
          assert.ok(s.level <= sp.capacity, `level ${s.level} > capacity ${sp.capacity}`);
          assert.ok(s.level >= -1e-9, `level ${s.level} < 0 without overruns`);
          assert.ok(s.updatedAt >= (at[at.length - 1] as number), 'updatedAt never moves back');
          nets.push(net);
          at.push(s.updatedAt);
        }
        for (let i = 0; i < nets.length; i++) {
          for (let j = i + 1; j < nets.length; j++) {
            const consumed = (nets[j] as number) - (nets[i] as number);
            const bound = sp.capacity + (sp.refillPerS * ((at[j] as number) - (at[i] as number))) / 1000 + 1e-6;
            assert.ok(consumed <= bound, `[${i},${j}] consumed ${consumed} > bound ${bound}`);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('level never exceeds capacity even with overruns (debits), gives back and backwards clocks', () => {
    fc.assert(
      fc.property(
        specArb,
        fc.array(
          fc.record({
            kind: fc.constantFrom('take', 'give', 'debit', 'settle', 'clock'),
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
            else if (op.kind === 'take') s = tryTake(sp, s, op.a, c.now()).state;
            else if (op.kind === 'give') s = giveBack(sp, s, op.a, c.now());
            else if (op.kind === 'debit') s = debit(sp, s, op.a, c.now());
            else s = settle(sp, s, op.a, op.b, c.now());
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
          const r = tryTake(sp, s, amount, now);
          if (amount > capacity) {
            assert.equal(r.ok, false);
            assert.equal(r.waitMs, Infinity);
            return;
          }
          if (r.ok) {
            assert.ok(amount <= s.level);
            return;
          }
          assert.ok(Number.isInteger(r.waitMs) && r.waitMs > 0);
          assert.equal(waitFor(sp, s, amount, now), r.waitMs);
          assert.equal(tryTake(sp, r.state, amount, now + r.waitMs).ok, true);
          assert.equal(tryTake(sp, r.state, amount, now + r.waitMs - 1).ok, false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
