/**
 * Replaying the audit log (SPEC section 8): requests that ended FAILED in a
 * window are submitted again as new requests once the cause is fixed; a
 * second replay submits nothing new; a dry run submits nothing at all.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, WorkerError, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

let h: Harness;
let worker: HttpWorkerServer;
/** While true the worker refuses every job (a bad deploy); then it is fixed. */
let broken = true;

before(async () => {
  worker = await serveHttp(defineWorker<{ n: number }>({
    name: 'flaky', dedupe: false,
    handler: (job) => {
      if (broken) throw new WorkerError('BAD_DEPLOY', 'this version cannot do it', { retryable: false });
      return { doubled: job.input.n * 2 };
    },
  }));
  h = await startHarness({ workers: { flaky: { transport: 'http', url: worker.url } }, templates: { double: { worker: 'flaky', max_attempts: 1 } } });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('failed requests of a window are submitted again once fixed; again: nothing new; dry run: nothing at all', async () => {
  const c = await h.createClient('standard');
  const since = new Date(Date.now() - 1).toISOString();
  const failed: string[] = [];
  for (let n = 1; n <= 3; n++) {
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'double', input: { n }, urgency: 'high', parameters: { note: `n${n}` } } });
    assert.equal(r.body.status, 'FAILED', r.text);
    failed.push(r.body.request_id);
  }
  broken = false;

  const missing = await h.call('POST', '/admin/requests/resubmit', { key: h.adminKey, json: {} });
  assert.equal(missing.status, 400);
  assert.match(missing.body.error.message, /^since: required/);

  const dry = await h.call('POST', '/admin/requests/resubmit', { key: h.adminKey, json: { since, dry_run: true } });
  assert.equal(dry.status, 200, dry.text);
  assert.deepEqual(dry.body.counts, { submitted: 0, existing: 0, would_submit: 3, refused: 0 });
  assert.equal((await h.call('GET', `/api/executions?limit=100`, { key: c.key })).body.requests.length, 3, 'a dry run submits nothing');

  const replay = await h.call('POST', '/admin/requests/resubmit', { key: h.adminKey, json: { since } });
  assert.equal(replay.status, 200, replay.text);
  assert.deepEqual(replay.body.counts, { submitted: 3, existing: 0, would_submit: 0, refused: 0 });
  assert.deepEqual(replay.body.results.map((r: Json) => r.original).toSorted(), [...failed].toSorted());
  for (const r of replay.body.results) {
    const done = await h.waitTerminal(r.request_id, c.key);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    const original = await h.store.getRequest(r.original);
    const n = (original?.input as { n: number } | undefined)?.n ?? Number.NaN;
    assert.deepEqual(done.output, { doubled: n * 2 }, 'the same input');
    assert.equal(done.urgency, 'high', 'same urgency');
    assert.equal(done.client_id, c.id, 'same client');
    assert.equal((await h.store.getRequest(r.request_id))?.parameters.note, (await h.store.getRequest(r.original))?.parameters.note, 'same parameters');
    assert.equal(done.idempotency_key, `resubmit:${r.original}`);
  }

  const again = await h.call('POST', '/admin/requests/resubmit', { key: h.adminKey, json: { since } });
  assert.deepEqual(again.body.counts, { submitted: 0, existing: 3, would_submit: 0, refused: 0 }, 'a second replay submits nothing new');
  assert.deepEqual(again.body.results.map((r: Json) => r.request_id).toSorted(), replay.body.results.map((r: Json) => r.request_id).toSorted());
  assert.equal((await h.call('GET', `/api/executions?limit=100`, { key: c.key })).body.requests.length, 6);

  const audit = (await h.call('GET', '/admin/audit?limit=10000', { key: h.adminKey })).body;
  const rows = (audit.entries as Json[]).filter((e: Json) => e.data?.action === 'requests:resubmit');
  assert.equal(rows.length, 2, 'each replay is an admin audit row');
});

test('by id: an unfinished request is refused and named; an unknown one too', async () => {
  const c = await h.createClient('standard');
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'double', input: { n: 5 } } });
    const r = await h.call('POST', '/admin/requests/resubmit', { key: h.adminKey, json: { request_ids: [q.body.request_id, 'no-such-request'] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.results.map((x: Json) => [x.outcome, x.error?.code]), [['refused', 'CONFLICT'], ['refused', 'NOT_FOUND']]);
    assert.match(r.body.results[0].error.message, /is PENDING, not finished/);
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});
