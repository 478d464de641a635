/** The retry timer (src/scheduler/retry-timer.ts): due order, cancellation, one timer for the earliest. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { RetryTimer } from '../../src/scheduler/retry-timer.ts';

test('takes what is due, earliest first; a deleted retry is skipped; an id waits once', () => {
  const clock = new FakeClock(1000);
  const t = new RetryTimer(clock, () => {});
  t.add('c', 3000);
  t.add('a', 1500);
  t.add('b', 2000);
  t.add('a', 9999); // Already waiting: keeps its time.
  assert.equal(t.size, 3);
  assert.deepEqual(t.takeDue(1400), []);
  assert.equal(t.delete('b'), true);
  assert.equal(t.delete('b'), false);
  assert.deepEqual(t.takeDue(2500), ['a']);
  assert.deepEqual(t.takeDue(3000), ['c']);
  assert.equal(t.size, 0);
});

test('fires once for the earliest retry, only while started', async () => {
  const clock = new FakeClock(Date.now());
  let fired = 0;
  const t = new RetryTimer(clock, () => fired++);
  t.add('x', clock.now() + 20);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(fired, 0, 'not started: no timer');
  t.start();
  t.add('y', clock.now() + 10_000); // Later than the armed one: the timer stays for x.
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired, 1);
  clock.advance(25);
  assert.deepEqual(t.takeDue(clock.now()), ['x']);
  t.stop();
  t.add('z', clock.now());
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fired, 1, 'stopped: nothing fires');
});
