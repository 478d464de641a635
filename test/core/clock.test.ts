import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DAY, FakeClock, HOUR, MINUTE, SECOND, systemClock } from '../../src/core/clock.ts';

describe('clock', () => {
  it('unit constants are in milliseconds', () => {
    assert.equal(SECOND, 1000);
    assert.equal(MINUTE, 60_000);
    assert.equal(HOUR, 3_600_000);
    assert.equal(DAY, 86_400_000);
  });

  it('FakeClock starts at the given time (default 1_700_000_000_000) and only moves when told', () => {
    assert.equal(new FakeClock().now(), 1_700_000_000_000);
    const c = new FakeClock(42);
    assert.equal(c.now(), 42);
    assert.equal(c.now(), 42);
    c.advance(1000);
    assert.equal(c.now(), 1042);
  });

  it('FakeClock can go backwards, by advance(negative) or set()', () => {
    const c = new FakeClock(10_000);
    c.advance(-5000);
    assert.equal(c.now(), 5000);
    c.set(-1);
    assert.equal(c.now(), -1);
    c.set(0);
    assert.equal(c.now(), 0);
  });

  it('systemClock follows Date.now()', () => {
    const before = Date.now();
    const t = systemClock.now();
    const after = Date.now();
    assert.ok(t >= before && t <= after);
  });
});
