/** GET /admin/dashboard (the snapshot the dashboard is pushed, see dashboard-push.test.ts) and the page's static files. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { nanoToUsd } from '../../src/core/money.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 } },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 50 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('serves the page, its script and style with their types; the snapshot is admin-only', async () => {
  for (const [path, type] of [['/dashboard', 'text/html'], ['/dashboard/app.js', 'text/javascript'], ['/dashboard/style.css', 'text/css']] as const) {
    const r = await h.call('GET', path);
    assert.equal(r.status, 200, path);
    assert.ok(r.headers.get('content-type')?.startsWith(type), `${path}: ${r.headers.get('content-type')}`);
  }
  const c = await h.createClient('standard');
  assert.equal((await h.call('GET', '/admin/dashboard')).status, 401);
  assert.equal((await h.call('GET', '/admin/dashboard', { key: c.key })).status, 403);
});

test('the snapshot: this hour\'s cost, budgets, resources, workers, migration', async () => {
  const c = await h.createClient('standard', { monthly_budget_usd: 10 });
  const done: Json[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'ask', input: { q: `question ${i}` } } });
    assert.equal(r.body.status, 'COMPLETED', r.text);
    done.push(r.body);
  }
  const s = (await h.call('GET', '/admin/dashboard?hours=3', { key: h.adminKey })).body;
  assert.equal(s.cost.length, 3, 'one point per hour');
  const last = s.cost.at(-1);
  assert.ok(Date.parse(last.hour) <= Date.now() && Date.now() - Date.parse(last.hour) < 3_600_000, 'the last point is this hour');
  const total = done.reduce((a, x) => a + x.cost_usd, 0);
  assert.ok(Math.abs(last.cost_usd - total) < 1e-9 || last.cost_usd >= total, `this hour's cost includes the three requests (${last.cost_usd} vs ${total})`);
  assert.ok(last.requests >= 3);
  const b = s.budgets.find((x: Json) => x.client_id === c.id);
  assert.deepEqual([b.budget_usd, b.held_usd], [10, 0]);
  assert.equal(b.spent_usd, nanoToUsd(done.reduce((a, x) => a + Math.round(x.cost_usd * 1e9), 0)));
  assert.ok(s.resources.some((r: Json) => r.name === 'test-llm' && r.capacity === 100_000 && r.available <= 100_000));
  assert.deepEqual(s.workers.map((w: Json) => w.name), ['spender']);
  assert.equal(s.migration.mode, 'allot');
  assert.deepEqual(s.requests, [], 'nothing live');
  assert.ok(Array.isArray(s.alerts));
});
