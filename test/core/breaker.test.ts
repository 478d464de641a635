import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock, HOUR, SECOND } from '../../src/core/clock.ts';
import { closedBreaker, reopensAt, settle, step, takeTrial, type Breaker, type BreakerPolicy } from '../../src/core/breaker.ts';

const policy: BreakerPolicy = { failureThreshold: 3, cooldownMs: 30 * SECOND };
const fail = (b: Breaker, now: number, kind = 'probe'): Breaker => step(b, { type: 'failure', kind }, policy, now);
const ok = (b: Breaker, now: number, kind = 'probe'): Breaker => step(b, { type: 'success', kind }, policy, now);
const failTimes = (b: Breaker, n: number, now: number, kind = 'probe'): Breaker => {
  let out = b;
  for (let i = 0; i < n; i++) out = fail(out, now, kind);
  return out;
};

describe('closed → open', () => {
  it('opens on the threshold-th consecutive failure, not before', () => {
    const c = new FakeClock();
    const two = failTimes(closedBreaker, 2, c.now());
    assert.equal(two.state, 'closed');
    assert.equal(two.streaks.probe, 2);
    assert.equal(takeTrial(two, policy, c.now()).granted, true);
    const three = fail(two, c.now());
    assert.equal(three.state, 'open');
    assert.equal(three.openedAt, c.now());
    assert.equal(takeTrial(three, policy, c.now()).granted, false);
  });

  it('a success resets the streak of its own kind only', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 2, c.now(), 'dispatch');
    b = fail(b, c.now(), 'probe');
    // Health answers, requests keep timing out: the dispatch streak is not hidden by probe successes.
    b = ok(b, c.now(), 'probe');
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.streaks, { dispatch: 2, probe: 0 });
    b = fail(b, c.now(), 'dispatch');
    assert.equal(b.state, 'open');
  });

  it('failures that are not consecutive do not open it', () => {
    const c = new FakeClock();
    let b = closedBreaker;
    for (let i = 0; i < 10; i++) {
      b = failTimes(b, 2, c.now());
      b = ok(b, c.now());
    }
    assert.equal(b.state, 'closed');
  });
});

describe('open → half_open → closed or open again', () => {
  it('stays open for the cool-down, then hands out exactly one trial', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    c.advance(policy.cooldownMs - 1);
    assert.equal(settle(b, policy, c.now()).state, 'open');
    assert.equal(reopensAt(b, policy, c.now()), c.now() + 1);
    assert.equal(takeTrial(b, policy, c.now()).granted, false);
    c.advance(1);
    assert.equal(settle(b, policy, c.now()).state, 'half_open');
    const first = takeTrial(b, policy, c.now());
    assert.equal(first.granted, true);
    b = first.breaker;
    assert.equal(takeTrial(b, policy, c.now()).granted, false, 'one trial at a time');
    b = ok(b, c.now(), 'dispatch');
    assert.equal(b.state, 'closed');
    assert.deepEqual(b.streaks, {});
  });

  it('a failed trial opens it again with a fresh cool-down', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    c.advance(policy.cooldownMs);
    b = takeTrial(b, policy, c.now()).breaker;
    b = fail(b, c.now());
    assert.equal(b.state, 'open');
    assert.equal(b.openedAt, c.now());
    c.advance(policy.cooldownMs - 1);
    assert.equal(settle(b, policy, c.now()).state, 'open');
  });

  it('successes and failures while open change nothing: only the cool-down ends it', () => {
    const c = new FakeClock();
    const b = failTimes(closedBreaker, 3, c.now());
    c.advance(SECOND);
    assert.deepEqual(ok(b, c.now()), b);
    assert.deepEqual(fail(b, c.now()), b, 'a failure while open does not extend the cool-down');
  });

  it('a trial whose outcome never arrives expires after a cool-down', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    c.advance(policy.cooldownMs);
    b = takeTrial(b, policy, c.now()).breaker;
    c.advance(policy.cooldownMs - 1);
    assert.equal(takeTrial(b, policy, c.now()).granted, false);
    c.advance(1);
    assert.equal(takeTrial(b, policy, c.now()).granted, true);
  });

  it('an operator can ask for the trial before the cool-down ends', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    b = step(b, { type: 'force_trial' }, policy, c.now());
    assert.equal(b.state, 'half_open');
    assert.equal(step(closedBreaker, { type: 'force_trial' }, policy, c.now()), closedBreaker);
  });
});

describe('time going backwards', () => {
  it('a backwards step while open delays recovery by at most one cool-down', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    c.advance(10 * SECOND);
    c.set(c.now() - 1 * HOUR); // NTP step or VM migration
    b = settle(b, policy, c.now());
    assert.equal(b.state, 'open');
    assert.equal(b.openedAt, c.now(), 're-anchored at the new now');
    c.advance(policy.cooldownMs);
    assert.equal(settle(b, policy, c.now()).state, 'half_open', 'not an hour and a cool-down later');
  });

  it('a backwards step while a trial is out does not strand it', () => {
    const c = new FakeClock();
    let b = failTimes(closedBreaker, 3, c.now());
    c.advance(policy.cooldownMs);
    b = takeTrial(b, policy, c.now()).breaker;
    c.set(c.now() - 1 * HOUR);
    const refused = takeTrial(b, policy, c.now());
    assert.equal(refused.granted, false);
    b = refused.breaker; // Callers keep what they are given back, so the re-anchoring sticks.
    c.advance(policy.cooldownMs);
    assert.equal(takeTrial(b, policy, c.now()).granted, true);
  });

  it('whatever happened before, with no new evidence it is never open longer than one cool-down', () => {
    const ev = fc.record({
      kind: fc.constantFrom('success', 'failure', 'force_trial', 'trial'),
      source: fc.constantFrom('probe', 'dispatch'),
      dt: fc.integer({ min: -2 * HOUR, max: 2 * policy.cooldownMs }),
    });
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 40 }), (events) => {
        let now = 1_700_000_000_000;
        let b: Breaker = closedBreaker;
        for (const e of events) {
          now += e.dt;
          if (e.kind === 'trial') b = takeTrial(b, policy, now).breaker;
          else if (e.kind === 'force_trial') b = step(b, { type: 'force_trial' }, policy, now);
          else b = step(b, { type: e.kind, kind: e.source }, policy, now);
          assert.ok(b.openedAt === null || b.openedAt <= now);
        }
        assert.equal(takeTrial(b, policy, now + policy.cooldownMs).granted, true);
      }),
    );
  });
});
