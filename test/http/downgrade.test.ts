/**
 * Model downgrade (SPEC section 5): non-critical requests of a template with
 * fallback models move to a cheaper model when the client's budget is under
 * pressure or the model's bucket is congested; critical urgency and
 * `optimize: false` keep the model asked for.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';

let worker: HttpWorkerServer;
let h: Harness;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: {
      'llm.big': { kind: 'tokens', model: 'big', unit: 'token', capacity: 2000, refill_per_s: 100, cost_per_unit_usd: 0.001 },
      'llm.mid': { kind: 'tokens', model: 'mid', unit: 'token', capacity: 2000, refill_per_s: 100, cost_per_unit_usd: 0.0005 },
      'llm.small': { kind: 'tokens', model: 'small', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.0001 },
    },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: {
      smart: { worker: 'spender', model: 'big', max_tokens: 800, fallback_models: ['small'], downgrade: { budget_threshold: 0.8, max_wait_ms: 1000 } },
      busy: { worker: 'spender', model: 'mid', max_tokens: 800, fallback_models: ['small'], downgrade: { max_wait_ms: 1000 } },
      vital: { worker: 'spender', model: 'big', max_tokens: 800, fallback_models: ['small'], critical: true },
    },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('budget pressure moves a request to the cheaper model; critical and optimize:false do not move', async () => {
  const c = await h.createClient('basic', { monthly_budget_usd: 1 });
  const first = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'smart', input: {} } });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.model, 'big', 'no pressure yet');
  assert.equal(first.body.cost_usd, 0.8);
  const second = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'smart', input: {} } });
  assert.equal(second.status, 200, second.text);
  assert.equal(second.body.model, 'small');
  assert.equal(second.body.model_requested, 'big');
  assert.equal(second.body.downgrade_reason, 'budget');
  assert.equal(second.body.cost_usd, 0.08, '800 tokens at the cheaper price');
  const stats = await h.call('GET', `/api/optimize/stats/${c.id}`, { key: c.key });
  assert.equal(stats.body.strategies.downgrade.saved_usd, 0.72, '800 tokens at $0.001 instead of $0.0001');
  const other = await h.createClient('basic');
  assert.equal((await h.call('GET', `/api/optimize/stats/${c.id}`, { key: other.key })).status, 403, 'only its own savings');
  assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'smart', input: {}, urgency: 'critical' } }), 402, 'BUDGET_EXCEEDED');
  assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'smart', input: {}, optimize: false } }), 402, 'BUDGET_EXCEEDED');
  assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'vital', input: {} } }), 402, 'BUDGET_EXCEEDED');
});

test('a congested model moves new requests to the cheaper model', async () => {
  const c = await h.createClient('enterprise');
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    const models: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'busy', input: {} } });
      assert.equal(r.status, 202, r.text);
      const x = await h.call('GET', `/api/execution/${r.body.request_id}`, { key: c.key });
      models.push(`${x.body.model}:${x.body.downgrade_reason ?? '-'}`);
    }
    // The mid bucket holds 2,000; each request needs 800. The third would wait for 1,600 queued + 800 − 2,000 =
    // 400 tokens at 100/s, 4 s, more than max_wait_ms (1 s): it and the fourth go to the small model.
    assert.deepEqual(models, ['mid:-', 'mid:-', 'small:congestion', 'small:congestion']);
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});

test('a client that turned downgrade off keeps the model it asked for', async () => {
  const c = await h.createClient('enterprise', { optimizations: { downgrade: false } });
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    const models: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'busy', input: {} } });
      models.push((await h.call('GET', `/api/execution/${r.body.request_id}`, { key: c.key })).body.model);
    }
    assert.deepEqual(models, ['mid', 'mid', 'mid', 'mid'], 'congested, but not moved');
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});
