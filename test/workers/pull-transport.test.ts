/**
 * The pull rendezvous on its own (src/workers/pull-transport.ts): polls,
 * room, the mailbox, results under the right lease, hang-ups and deadlines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PullTransport } from '../../src/workers/pull-transport.ts';
import type { Job, WorkerOutcome } from '../../src/workers/transport.ts';
import type { WorkerDef } from '../../src/model.ts';

const W = { name: 'w', transport: 'pull', maxConcurrency: 10, capabilities: [], source: 'config', token: 't' } as unknown as WorkerDef;
const job = (id: string): Job => ({ request_id: id, template: 't', stage: 0, attempt: 1, input: { id }, parameters: {}, deadline_ms: 0, timeout_ms: 1_000 });
const OK: WorkerOutcome = { ok: true, output: { done: true }, usage: null, metadata: {} };
const never = new AbortController().signal;

test('room is what waiting polls would take; jobs claimed together go out in one answer', async () => {
  const p = new PullTransport();
  let asked = 0;
  p.onDemand(() => asked++);
  assert.equal(p.room('w'), 0);
  const polled = p.poll('w', 3, 5_000, never);
  assert.equal(p.room('w'), 3);
  assert.equal(asked, 1, 'the scheduler is told');
  const a = p.dispatch(W, job('a'), { signal: never, onProgress: () => {}, leaseToken: 4 });
  const b = p.dispatch(W, job('b'), { signal: never, onProgress: () => {}, leaseToken: 9 });
  const jobs = await polled;
  assert.deepEqual(jobs.map((j) => [j.request_id, j.lease_token]), [['a', 4], ['b', 9]]);
  assert.equal(p.room('w'), 0);
  assert.equal(p.outstanding('w'), 2);
  assert.deepEqual(p.deliver('w', 'a', 5, OK), { taken: false, reason: 'Request a runs under lease 4, not 5' });
  assert.equal(p.deliver('other', 'a', 4, OK).taken, false);
  assert.deepEqual(p.deliver('w', 'a', 4, OK), { taken: true, endsRequest: true });
  assert.deepEqual(await a, OK);
  assert.equal(p.deliver('w', 'a', 4, OK).taken, false, 'once');
  assert.equal(p.outstanding('w'), 1);
  p.deliver('w', 'b', 9, OK);
  await b;
});

test('a job with no poll waits in the mailbox; the next poll gets it at once; its deadline takes it out', async () => {
  const p = new PullTransport();
  const a = p.dispatch(W, job('a'), { signal: never, onProgress: () => {}, leaseToken: 1 });
  assert.equal(p.deliver('w', 'a', 1, OK).taken, false, 'not out yet: no result can be for it');
  assert.deepEqual((await p.poll('w', 5, 5_000, never)).map((j) => j.request_id), ['a']);
  p.deliver('w', 'a', 1, OK);
  await a;
  const deadline = new AbortController();
  const b = p.dispatch(W, job('b'), { signal: deadline.signal, onProgress: () => {}, leaseToken: 2 });
  deadline.abort({ code: 'REQUEST_TIMEOUT' });
  assert.equal((await b).ok, false);
  assert.deepEqual(await p.poll('w', 5, 0, never), [], 'gone from the mailbox');
  assert.equal(p.outstanding('w'), 0);
});

test('a poll that hangs up, waiting or as it is answered, leaves its jobs to the next one', async () => {
  const p = new PullTransport();
  const hang = new AbortController();
  const first = p.poll('w', 2, 5_000, hang.signal);
  hang.abort();
  assert.deepEqual(await first, []);
  assert.equal(p.room('w'), 0, 'no room kept for a poll nobody waits on');
  const second = p.poll('w', 2, 5_000, never);
  const a = p.dispatch(W, job('a'), { signal: never, onProgress: () => {}, leaseToken: 3 });
  const sent = await second;
  p.giveBack('w', sent); // the answer never arrived
  assert.equal(p.deliver('w', 'a', 3, OK).taken, false, 'back in the mailbox');
  assert.deepEqual((await p.poll('w', 2, 5_000, never)).map((j) => [j.request_id, j.lease_token]), [['a', 3]], 'same lease');
  p.deliver('w', 'a', 3, OK);
  await a;
});

test('a poll with nothing waits wait_ms and answers none; a pipeline stage is marked so', async () => {
  const p = new PullTransport();
  const t0 = performance.now();
  assert.deepEqual(await p.poll('w', 1, 80, never), []);
  assert.ok(performance.now() - t0 >= 70);
  const polled = p.poll('w', 1, 5_000, never);
  const s = p.dispatch(W, job('s'), { signal: never, onProgress: () => {}, leaseToken: 1, endsRequest: false });
  await polled;
  assert.deepEqual(p.deliver('w', 's', 1, OK), { taken: true, endsRequest: false });
  await s;
});
