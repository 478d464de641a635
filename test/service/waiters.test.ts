/**
 * Callers of POST /api/execute wait for their request to end. `waitFor`
 * subscribes, then reads: a request that ended before the caller began to
 * wait (its event already gone, or on another instance) is answered at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Events } from '../../src/events.ts';
import { Waiters } from '../../src/service/waiters.ts';
import type { WorkRequest } from '../../src/model.ts';
import { makeRequest } from '../contract/fixtures.ts';

const req = (state: WorkRequest['state']): WorkRequest => makeRequest({ id: 'r1', state });
/** A store that holds `r1` in `state`; counts whole-row reads. */
const look = (state: WorkRequest['state'], before?: () => void) => {
  const reads = { n: 0 };
  return {
    reads,
    state: async () => {
      before?.();
      return state;
    },
    read: async () => {
      reads.n++;
      return req(state);
    },
  };
};

test('ended before the wait began: answered at once from the read, nothing left waiting', async () => {
  const w = new Waiters(new Events());
  const t0 = performance.now();
  const l = look('COMPLETED');
  const got = await w.waitFor('r1', 10_000, l);
  assert.equal(l.reads.n, 1, 'the whole request read once it is seen ended');
  assert.equal(got?.state, 'COMPLETED');
  assert.ok(performance.now() - t0 < 1_000);
  assert.equal(w.has('r1'), false);
});

test('still running at the read: answered by the event when it ends', async () => {
  const events = new Events();
  const w = new Waiters(events);
  const l = look('RUNNING');
  const waiting = w.waitFor('r1', 10_000, l);
  await new Promise((r) => setImmediate(r));
  assert.equal(w.has('r1'), true);
  assert.equal(l.reads.n, 0, 'a running request: its state alone is read');
  events.emit('request:changed', req('FAILED'));
  assert.equal((await waiting)?.state, 'FAILED');
});

test('ending while the read is on its way: the event, heard because the waiter was in place first', async () => {
  const events = new Events();
  const w = new Waiters(events);
  // The read answers with what it saw before the end; the event comes meanwhile.
  const waiting = w.waitFor('r1', 10_000, look('RUNNING', () => events.emit('request:completed', req('COMPLETED'), 1)));
  assert.equal((await waiting)?.state, 'COMPLETED');
});

test('not ended within ms: null, and nothing left waiting', async () => {
  const w = new Waiters(new Events());
  assert.equal(await w.waitFor('r1', 30, look('PENDING')), null);
  assert.equal(w.has('r1'), false);
});
