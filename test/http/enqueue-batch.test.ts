/**
 * Bulk submission, POST /api/queue/enqueue/batch: up to 1,000 requests in one
 * call, one result per item in order; a refused item (invalid, over budget,
 * its key reused with another body) gets its own error and the others go on;
 * idempotency keys per item; budget holds all-or-nothing per item, never
 * overspent. Runs on each backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { usdToNano } from '../../src/core/money.ts';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 10_000_000, refill_per_s: 10_000_000, cost_per_unit_usd: 0.00005 } },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 1000 }, free: { worker: 'spender' } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

const batch = (key: string, requests: unknown) => h.call('POST', '/api/queue/enqueue/batch', { key, json: { requests } });

test('one result per item, in order: accepted ones run, each refused item has its own error', async () => {
  const c = await h.createClient('standard');
  const r = await batch(c.key, [
    { template: 'free', input: { n: 0 } },
    { template: 'nope', input: {} },
    { template: 'free', input: { n: 2 }, urgency: 'high' },
    { template: 'free' },
    { template: 'free', input: { n: 4 }, urgency: 'urgentest' },
    'not an object',
    { template: 'free', input: { n: 6 }, extra: true },
    { template: 'free', input: { n: 7 } },
  ]);
  assert.equal(r.status, 200, r.text);
  const results = r.body.results as Json[];
  assert.equal(results.length, 8);
  const ok = [0, 2, 7];
  for (const i of ok) {
    assert.equal(results[i].status, 'PENDING', JSON.stringify(results[i]));
    assert.equal(results[i].created, true);
    assert.equal(typeof results[i].estimate.max_cost_usd, 'number');
    assert.equal(results[i].error, undefined);
  }
  const errorOf = (i: number): { code: string; message: string } => results[i].error;
  assert.equal(errorOf(1).code, 'VALIDATION_ERROR');
  assert.match(errorOf(1).message, /template: no template named "nope"/);
  assert.match(errorOf(3).message, /requests\[3\]\.input/);
  assert.match(errorOf(4).message, /requests\[4\]\.urgency/);
  assert.match(errorOf(5).message, /requests\[5\]/);
  assert.match(errorOf(6).message, /requests\[6\]\.extra: unknown field/);
  for (const i of [1, 3, 4, 5, 6]) assert.equal(results[i].request_id, undefined);
  for (const i of ok) {
    const done = await h.waitTerminal(results[i].request_id, c.key);
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.urgency, i === 2 ? 'high' : 'normal');
  }
  // Only the accepted ones exist.
  const mine = await h.call('GET', '/api/executions?limit=100', { key: c.key });
  assert.deepEqual((mine.body.requests as Json[]).map((x) => x.request_id).toSorted(), ok.map((i) => results[i].request_id).toSorted());
});

test('idempotency keys per item: a repeated batch makes nothing new; a key reused with another body is refused for that item alone', async () => {
  const c = await h.createClient('standard');
  const items = Array.from({ length: 5 }, (_, i) => ({ template: 'free', input: { n: i }, idempotency_key: `k${i}` }));
  const first = await batch(c.key, items);
  assert.equal(first.status, 200, first.text);
  const ids = (first.body.results as Json[]).map((x) => x.request_id);
  assert.equal(new Set(ids).size, 5);
  const again = await batch(c.key, [...items, { template: 'free', input: { n: 99 }, idempotency_key: 'k1' }, { template: 'free', input: { n: 5 }, idempotency_key: 'k5' }]);
  const results = again.body.results as Json[];
  assert.deepEqual(results.slice(0, 5).map((x) => x.request_id), ids, 'the same requests');
  assert.deepEqual(results.slice(0, 5).map((x) => x.created), [false, false, false, false, false]);
  assert.equal(results[5].error.code, 'IDEMPOTENCY_MISMATCH');
  assert.equal(results[6].created, true);
  // The same key twice in one batch: one request.
  const twice = await batch(c.key, [{ template: 'free', input: { n: 1 }, idempotency_key: 'same' }, { template: 'free', input: { n: 1 }, idempotency_key: 'same' }]);
  const [a, b] = twice.body.results as Json[];
  assert.equal(a.request_id, b.request_id);
  assert.deepEqual([a.created, b.created].toSorted(), [false, true]);
  const mine = await h.call('GET', '/api/executions?limit=100', { key: c.key });
  assert.equal((mine.body.requests as Json[]).length, 7);
});

test('budget holds are all-or-nothing per item: 30 items of ~$0.05 against $1 admit as many as fit, never more', async () => {
  const c = await h.createClient('standard', { monthly_budget_usd: 1 });
  // Nothing runs meanwhile, so no hold turns into a smaller charge and makes room: the count is exact.
  assert.equal((await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey })).status, 200);
  try {
    const r = await batch(c.key, Array.from({ length: 30 }, (_, i) => ({ template: 'ask', input: { q: `q ${i}` } })));
    const results = r.body.results as Json[];
    const accepted = results.filter((x) => x.request_id);
    const refused = results.filter((x) => x.error);
    assert.equal(accepted.length + refused.length, 30);
    for (const x of refused) assert.equal(x.error.code, 'BUDGET_EXCEEDED');
    const hold = usdToNano(accepted[0].estimate.max_cost_usd);
    assert.ok(hold > usdToNano(0.05) && hold < usdToNano(0.051), `each holds about $0.05 (${hold} nano)`);
    assert.equal(accepted.length, Math.floor(usdToNano(1) / hold), `as many as fit: ${accepted.length}`);
    const usage = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(usage.status, 200, usage.text);
    assert.equal(usdToNano(usage.body.held_usd), accepted.length * hold, 'held: exactly the accepted items');
    assert.ok(usdToNano(usage.body.held_usd) + usdToNano(usage.body.spent_usd) <= usdToNano(1), 'within the budget');
  } finally {
    assert.equal((await h.call('POST', '/admin/scheduler/start', { key: h.adminKey })).status, 200);
  }
});

test('the envelope: no requests, more than 1,000, or not a list is 400 naming "requests"', async () => {
  const c = await h.createClient('standard');
  for (const requests of [[], Array.from({ length: 1001 }, () => ({ template: 'free', input: {} })), { template: 'free' }]) {
    const r = await batch(c.key, requests);
    assertEnvelope(r, 400, 'VALIDATION_ERROR');
    assert.match(r.body.error.message, /requests/);
  }
  const none = await h.call('POST', '/api/queue/enqueue/batch', { json: { requests: [{ template: 'free', input: {} }] } });
  assertEnvelope(none, 401, 'UNAUTHORIZED');
});
