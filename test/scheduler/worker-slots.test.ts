/** Worker slots: max concurrency across requests and pipeline stages (src/scheduler/worker-slots.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkerSlots, type SlotHolder } from '../../src/scheduler/worker-slots.ts';

const holder = (): SlotHolder => ({ worker: '' });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('take and free count slots per worker; free keeps the holder’s worker name', () => {
  const slots = new WorkerSlots(() => true);
  const a = holder();
  const b = holder();
  slots.take(a, 'w');
  slots.take(b, 'w');
  assert.equal(slots.taken('w'), 2);
  slots.free(a);
  assert.equal(slots.taken('w'), 1);
  assert.equal(a.worker, 'w', 'kept: its outcome is reported against it');
  slots.free(b);
  assert.equal(slots.taken('w'), 0);
  slots.free(holder()); // Holds nothing: nothing changes.
  assert.equal(slots.taken('w'), 0);
});

test('a move waits while the worker is full; a freed slot goes to the oldest waiter, not back to the pool', async () => {
  const slots = new WorkerSlots(() => true);
  const running = holder();
  slots.take(running, 'w2');
  const first = holder();
  const second = holder();
  slots.take(first, 'w1');
  slots.take(second, 'w1');
  const order: string[] = [];
  const ctl = new AbortController();
  const m1 = slots.move(first, 'w2', 1, ctl.signal).then(() => order.push('first'));
  const m2 = slots.move(second, 'w2', 1, ctl.signal).then(() => order.push('second'));
  await tick();
  assert.deepEqual(order, [], 'both wait');
  assert.equal(slots.taken('w1'), 0, 'each gave up its previous slot before waiting');
  assert.equal(first.worker, '');
  slots.free(running);
  await m1;
  assert.deepEqual(order, ['first']);
  assert.equal(first.worker, 'w2');
  assert.equal(slots.taken('w2'), 1, 'handed over, never counted free');
  slots.free(first);
  await m2;
  assert.deepEqual(order, ['first', 'second']);
  assert.equal(slots.taken('w2'), 1);
});

test('an aborted wait leaves the queue holding nothing; a waiter that ended is skipped', async () => {
  const ended = new Set<SlotHolder>();
  const slots = new WorkerSlots((h) => !ended.has(h));
  const running = holder();
  slots.take(running, 'w');
  const aborted = holder();
  const gone = holder();
  const next = holder();
  const ctl = new AbortController();
  const pAborted = slots.move(aborted, 'w', 1, ctl.signal);
  void slots.move(gone, 'w', 1, new AbortController().signal);
  const pNext = slots.move(next, 'w', 1, new AbortController().signal);
  ctl.abort();
  await pAborted;
  assert.equal(aborted.worker, '', 'no slot');
  ended.add(gone);
  slots.free(running);
  await pNext;
  assert.equal(next.worker, 'w', 'the slot skipped the aborted and the ended waiters');
  assert.equal(slots.taken('w'), 1);
});

test('pipelines crossing two workers in opposite orders do not deadlock', async () => {
  const slots = new WorkerSlots(() => true);
  const ab = holder();
  const ba = holder();
  slots.take(ab, 'a');
  slots.take(ba, 'b');
  const never = new AbortController().signal;
  const both = Promise.all([slots.move(ab, 'b', 1, never), slots.move(ba, 'a', 1, never)]);
  await both;
  assert.deepEqual([ab.worker, ba.worker], ['b', 'a']);
  assert.equal(slots.taken('a') + slots.taken('b'), 2);
});
