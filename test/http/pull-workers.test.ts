/**
 * Pull workers (transport "pull"): the worker asks for work at
 * /internal/jobs/poll and sends results to /internal/jobs/results. The
 * worker here is the test itself, speaking the protocol over Allot's HTTP
 * API. Runs on each backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

const TOKEN = 'pull-worker-token-0001';
const OTHER = 'push-worker-token-0001';
let h: Harness;

before(async () => {
  h = await startHarness({
    workers: {
      puller: { transport: 'pull', token: TOKEN, max_concurrency: 50 },
      // A push worker nobody serves: polling as it is refused.
      pusher: { transport: 'http', url: 'http://127.0.0.1:9/', token: OTHER },
    },
    // A pull worker holds a job 800 ms at a time, renewed by its heartbeats.
    scheduler: { pull_lease_ms: 800, lease_grace_ms: 200, reaper_interval_ms: 100 },
    templates: {
      pulled: { worker: 'puller', timeout_ms: 10_000 },
      long: { worker: 'puller', timeout_ms: 20_000, max_attempts: 3, retry: { base_delay_ms: 10, max_delay_ms: 20 } },
      short: { worker: 'puller', timeout_ms: 600, max_attempts: 3, retry: { base_delay_ms: 10, max_delay_ms: 20 } },
      once: { worker: 'puller', timeout_ms: 10_000, max_attempts: 1 },
    },
  });
});

after(async () => {
  await h?.close();
});

const poll = (json: Json, key = TOKEN) => h.call('POST', '/internal/jobs/poll', { key, json });
const results = (items: Json[], key = TOKEN) => h.call('POST', '/internal/jobs/results', { key, json: { results: items } });
const ok = (job: Json, output: Json) => ({ request_id: job.request_id, lease_token: job.lease_token, success: true, output, usage: { tokens: { input: 1, output: 2 }, resources: {}, duration: 1 }, metadata: {} });
const state = async (id: string, key: string): Promise<Json> => (await h.call('GET', `/api/execution/${id}`, { key })).body;

async function submit(key: string, template: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template, input: { i } } });
    assert.equal(r.status, 202, r.text);
    ids.push(r.body.request_id);
  }
  return ids;
}

test('nothing is claimed until the worker asks; one poll takes a batch, one call settles it', async () => {
  const c = await h.createClient('standard');
  const ids = await submit(c.key, 'pulled', 5);
  await sleep(150);
  for (const id of ids) assert.equal((await state(id, c.key)).status, 'PENDING', 'no poll, no claim');
  const got = await poll({ worker: 'puller', max_jobs: 10, wait_ms: 2_000 });
  assert.equal(got.status, 200, got.text);
  const jobs = got.body.jobs as Json[];
  assert.deepEqual(jobs.map((j) => j.request_id).toSorted(), ids.toSorted(), 'all five in one answer');
  for (const j of jobs) {
    assert.equal(typeof j.lease_token, 'number');
    assert.equal(j.template, 'pulled');
    assert.equal(typeof j.deadline_ms, 'number');
    assert.ok(j.timeout_ms > 0 && j.timeout_ms <= 10_000);
    assert.equal((await state(j.request_id, c.key)).status, 'RUNNING');
  }
  const answer = await results(jobs.map((j) => ok(j, { doubled: j.input.i * 2 })));
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.body.results.map((r: Json) => r.accepted), [true, true, true, true, true]);
  for (const j of jobs) {
    const done = await state(j.request_id, c.key);
    assert.equal(done.status, 'COMPLETED');
    assert.deepEqual(done.output, { doubled: j.input.i * 2 });
    assert.deepEqual(done.usage.tokens, { input: 1, output: 2 });
  }
});

test('a poll with nothing to do waits wait_ms and answers no jobs; work that arrives meanwhile is given at once', async () => {
  const t0 = performance.now();
  const empty = await poll({ worker: 'puller', max_jobs: 5, wait_ms: 300 });
  assert.deepEqual(empty.body.jobs, []);
  assert.ok(performance.now() - t0 >= 280, 'waited');
  const c = await h.createClient('standard');
  const waiting = poll({ worker: 'puller', max_jobs: 5, wait_ms: 5_000 });
  await sleep(50);
  const t1 = performance.now();
  const id = (await submit(c.key, 'pulled', 1))[0] as string;
  const got = await waiting;
  assert.deepEqual(got.body.jobs.map((j: Json) => j.request_id), [id]);
  assert.ok(performance.now() - t1 < 2_000, `given at once (${Math.round(performance.now() - t1)} ms)`);
  assert.equal((await results([ok(got.body.jobs[0], {})])).body.results[0].accepted, true);
});

test('results in one call: success, failure and a stale lease, each answered on its own; the stale one is not charged', async () => {
  const c = await h.createClient('standard');
  await submit(c.key, 'once', 3);
  const jobs = (await poll({ worker: 'puller', max_jobs: 3, wait_ms: 2_000 })).body.jobs as Json[];
  assert.equal(jobs.length, 3);
  const [a, b, s] = jobs as [Json, Json, Json];
  const answer = await results([
    ok(a, { fine: true }),
    { request_id: b.request_id, lease_token: b.lease_token, success: false, error: { code: 'BAD_INPUT', message: 'no', retryable: false }, usage: { tokens: { input: 0, output: 0 }, resources: {}, duration: 1 } },
    ok({ ...s, lease_token: s.lease_token + 7 }, { forged: true }),
    ok({ request_id: 'no-such-request', lease_token: 1 }, {}),
  ]);
  const r = answer.body.results as Json[];
  assert.deepEqual(r.map((x) => x.accepted), [true, true, false, false]);
  assert.equal(r[2].error.code, 'LEASE_LOST');
  assert.equal((await state(a.request_id, c.key)).status, 'COMPLETED');
  const failed = await state(b.request_id, c.key);
  assert.equal(failed.status, 'FAILED');
  assert.equal(failed.error.code, 'BAD_INPUT');
  const stale = await state(s.request_id, c.key);
  assert.equal(stale.status, 'RUNNING', 'the forged token changed nothing');
  assert.equal(stale.output, null);
  // Its own token still works.
  assert.equal((await results([ok(s, { real: true })])).body.results[0].accepted, true);
  assert.deepEqual((await state(s.request_id, c.key)).output, { real: true });
});

test('a worker that polls and dies: its job comes back when its lease runs out, under a new lease, and the old lease is refused', async () => {
  const c = await h.createClient('standard');
  const id = (await submit(c.key, 'short', 1))[0] as string;
  const first = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 2_000 })).body.jobs[0];
  assert.equal(first.request_id, id);
  // It never answers. After the job's 600 ms, Allot takes it back and offers it again.
  const again = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 5_000 })).body.jobs[0];
  assert.equal(again?.request_id, id);
  assert.ok(again.lease_token > first.lease_token, 'a new lease');
  assert.equal(again.attempt, 2);
  const late = await results([ok(first, { late: true })]);
  assert.equal(late.body.results[0].accepted, false, 'the dead worker\'s late answer');
  assert.equal((await results([ok(again, { second: true })])).body.results[0].accepted, true);
  const done = await state(id, c.key);
  assert.equal(done.status, 'COMPLETED');
  assert.deepEqual(done.output, { second: true });
});

test('priority and fairness hold for pull workers: one job at a time goes to the most urgent, and two equal clients take turns', async () => {
  const a = await h.createClient('standard');
  const b = await h.createClient('standard');
  const owner = new Map<string, string>();
  const enqueue = async (key: string, who: string, urgency: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template: 'pulled', input: { i }, urgency } });
      owner.set(r.body.request_id, `${who}:${urgency}`);
    }
  };
  // Queued while no worker asks: nothing is claimed, so the order is the scheduler's alone.
  await enqueue(a.key, 'a', 'low', 6);
  await enqueue(b.key, 'b', 'low', 6);
  await enqueue(a.key, 'a', 'critical', 2);
  const order: string[] = [];
  for (let i = 0; i < 14; i++) {
    const job = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 2_000 })).body.jobs[0];
    order.push(owner.get(job.request_id) as string);
    assert.equal((await results([ok(job, {})])).body.results[0].accepted, true);
  }
  assert.deepEqual(order.slice(0, 2), ['a:critical', 'a:critical'], `most urgent first: ${order.join(' ')}`);
  const firstSix = order.slice(2, 8);
  assert.ok(firstSix.filter((x) => x === 'b:low').length >= 3, `b, idle so far, gets its turns: ${order.join(' ')}`);
  for (let i = 3; i < 8; i++) assert.ok(!(order[i] === order[i - 1] && order[i - 1] === order[i - 2] && order[i] === 'a:low'), `a does not run three in a row ahead of b: ${order.join(' ')}`);
});

test('heartbeats hold a job past the pull lease; without them it comes back long before its deadline', async () => {
  const c = await h.createClient('standard');
  const id = (await submit(c.key, 'long', 1))[0] as string;
  const job = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 2_000 })).body.jobs[0];
  // Held for 2.5 s (three 800 ms leases and more) by a heartbeat every 150 ms.
  const t0 = performance.now();
  while (performance.now() - t0 < 2_500) {
    const hb = await h.call('POST', '/internal/jobs/heartbeat', { key: TOKEN, json: { worker: 'puller', jobs: [{ request_id: id, lease_token: job.lease_token }, { request_id: id, lease_token: job.lease_token + 1 }] } });
    assert.deepEqual(hb.body.jobs.map((j: Json) => j.active), [true, false], 'its own lease, not another');
    assert.ok(hb.body.jobs[0].lease_expires_in_ms > 0 && hb.body.jobs[0].lease_expires_in_ms <= 1_000);
    await sleep(150);
  }
  assert.equal((await results([ok(job, { held: true })])).body.results[0].accepted, true);
  assert.deepEqual((await state(id, c.key)).output, { held: true });

  // A worker that takes a job and goes silent: the job is back after its lease (~1 s), not its 20 s deadline.
  const id2 = (await submit(c.key, 'long', 1))[0] as string;
  const lost = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 2_000 })).body.jobs[0];
  const t1 = performance.now();
  const back = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 5_000 })).body.jobs[0];
  assert.equal(back?.request_id, id2);
  assert.ok(performance.now() - t1 < 4_000, `back after ${Math.round(performance.now() - t1)} ms`);
  assert.ok(back.lease_token > lost.lease_token);
  const gone = await h.call('POST', '/internal/jobs/heartbeat', { key: TOKEN, json: { worker: 'puller', jobs: [{ request_id: id2, lease_token: lost.lease_token }] } });
  assert.equal(gone.body.jobs[0].active, false, 'the silent worker is told it no longer holds it');
  assert.equal((await results([ok(lost, { late: true })])).body.results[0].accepted, false);
  assert.equal((await results([ok(back, { second: true })])).body.results[0].accepted, true);
  // Cancelled: no longer the worker's either.
  const id3 = (await submit(c.key, 'long', 1))[0] as string;
  const j3 = (await poll({ worker: 'puller', max_jobs: 1, wait_ms: 2_000 })).body.jobs[0];
  await h.call('POST', `/api/execution/${id3}/cancel`, { key: c.key });
  const later = await h.call('POST', '/internal/jobs/heartbeat', { key: TOKEN, json: { worker: 'puller', jobs: [{ request_id: id3, lease_token: j3.lease_token }] } });
  assert.equal(later.body.jobs[0].active, false, 'cancelled: no longer its job');
});

test('refused: another worker\'s name, a push worker, a client key, bad bodies', async () => {
  assertEnvelope(await poll({ worker: 'pusher', max_jobs: 1 }), 403, 'FORBIDDEN');
  assertEnvelope(await poll({ worker: 'pusher', max_jobs: 1 }, OTHER), 400, 'VALIDATION_ERROR');
  const c = await h.createClient('standard');
  assertEnvelope(await poll({ worker: 'puller' }, c.key), 403, 'FORBIDDEN');
  assertEnvelope(await poll({ worker: 'puller' }, 'no-such-token-000'), 401, 'UNAUTHORIZED');
  assertEnvelope(await poll({ worker: 'puller', max_jobs: 0 }), 400, 'VALIDATION_ERROR');
  assertEnvelope(await poll({ worker: 'puller', wait_ms: 600_000 }), 400, 'VALIDATION_ERROR');
  assertEnvelope(await results([]), 400, 'VALIDATION_ERROR');
});
