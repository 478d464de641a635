/**
 * Changing a resource's limits and a tier at runtime: a provider raised a
 * rate limit, or an operator gives a tier more concurrency. Changes apply at
 * once, are audited, and survive a restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from '../../src/service/registry.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

let h: Harness;
let worker: HttpWorkerServer;
const CONFIG = {
  resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 1000, refill_per_s: 0, cost_per_unit_usd: 0.00001 } },
  templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 400 } },
};

before(async () => {
  worker = await startSpender();
  h = await startHarness({ ...CONFIG, workers: { spender: { transport: 'http', url: worker.url } } });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('raising a resource capacity lets waiting requests run at once; lowering below a queued need is refused unless forced', async () => {
  const c = await h.createClient('standard');
  const a = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'ask', input: { q: 'one' } } });
  assert.equal(a.body.status, 'COMPLETED', a.text);
  const b = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'ask', input: { q: 'two' } } });
  assert.equal(b.body.status, 'COMPLETED', b.text);
  // 1,000 tokens, no refill, and the spender uses all 400 it may: a third one waits.
  const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'three' } } });
  assert.equal(q.status, 202);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await h.call('GET', `/api/execution/${q.body.request_id}`, { key: c.key })).body.status, 'PENDING');

  const low = await h.call('PATCH', '/admin/resources/test-llm', { key: h.adminKey, json: { capacity: 100 } });
  assert.equal(low.status, 409);
  assert.match(low.body.error.message, /^capacity: a queued request needs \d+ tokens/);

  const up = await h.call('PATCH', '/admin/resources/test-llm', { key: h.adminKey, json: { capacity: 5000, refill_per_s: 100, output_cost_per_unit_usd: 0.00002 } });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.resource.capacity, 5000);
  assert.equal(up.body.resource.refill_per_s, 100);
  const done = await h.waitTerminal(q.body.request_id, c.key);
  assert.equal(done.status, 'COMPLETED', 'the waiting request ran once the limit rose');
  assert.equal(done.cost_usd, Number((400 * 0.00002).toFixed(9)), 'at the new output price');
  const audit = (await h.call('GET', '/admin/audit?limit=10000', { key: h.adminKey })).body.entries;
  assert.ok(audit.some((e: { data?: { action?: string; capacity?: number } }) => e.data?.action === 'limits' && e.data.capacity === 5000));
});

test('a tier change applies at once and, like resource limits, survives a restart', async () => {
  const t = await h.call('PATCH', '/admin/tiers/basic', { key: h.adminKey, json: { max_concurrent: 7, monthly_budget_usd: 250 } });
  assert.equal(t.status, 200, t.text);
  assert.deepEqual(t.body.tier, { name: 'basic', priority_points: 10, max_concurrent: 7, monthly_budget_usd: 250 });
  const c = await h.createClient('basic');
  assert.equal((await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key })).body.budget_usd, 250);
  assert.equal((await h.call('PATCH', '/admin/tiers/nope', { key: h.adminKey, json: { max_concurrent: 1 } })).status, 404);
  assert.equal((await h.call('PATCH', '/admin/tiers/basic', { key: h.adminKey, json: { priority_points: 99 } })).status, 400, 'tier points are 0-40');

  // A restart reads the same database: a registry loaded afresh from the config keeps both changes.
  const fresh = new Registry(h.store, h.config.tiers, h.config.resources);
  await fresh.load();
  assert.equal(fresh.tiers.get('basic')?.maxConcurrent, 7);
  assert.equal(fresh.tiers.get('basic')?.monthlyBudgetUsd, 250);
  const res = fresh.resources.get('test-llm');
  assert.deepEqual([res?.capacity, res?.refillPerS, res?.price.outputCostPerUnitUsd], [5000, 100, 0.00002]);
  assert.equal(h.config.resources.get('test-llm')?.capacity, 1000, 'over the config file');
});
