/**
 * POST /admin/workers/{name}/breaker: an operator opens a worker's circuit
 * breaker (held open: no cool-down, no trial, probes ignored) and closes it
 * again; the order is audited, kept in the store, and applied again by an
 * Allot started on the same database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { buildAllot } from '../../src/boot.ts';
import { saveBreakerOrder } from '../../src/workers/breaker-orders.ts';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

const COOLDOWN_MS = 100;
let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 } },
    workers: { spender: { transport: 'http', url: worker.url }, other: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 50 } },
    worker_health: { interval_ms: 60_000, failure_threshold: 2, cooldown_ms: COOLDOWN_MS },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

const order = (name: string, json: unknown, key = h.adminKey) => h.call('POST', `/admin/workers/${name}/breaker`, { key, json });
const health = async (name: string): Promise<Json> => (await h.call('GET', `/admin/workers/${name}`, { key: h.adminKey })).body.worker.health;

test('opened by hand: held open past the cool-down, probes do not close it, nothing is dispatched; closed by hand: work flows again', async () => {
  const c = await h.createClient('standard');
  const r = await order('spender', { state: 'open', reason: 'provider incident' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.body.worker, r.body.health.breaker, r.body.health.held, r.body.health.available, r.body.health.reopens_at], ['spender', 'open', true, false, null]);
  const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'held' } } });
  assert.equal(q.status, 202, q.text);
  await sleep(COOLDOWN_MS * 4);
  // A probe answers (the worker is up), and still the operator's hold stands.
  const p = await h.call('POST', '/admin/workers/spender/probe', { key: h.adminKey });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.health.breaker, 'open');
  assert.equal((await health('spender')).breaker, 'open');
  assert.equal((await h.call('GET', `/api/execution/${q.body.request_id}`, { key: c.key })).body.status, 'PENDING', 'not dispatched while held open');
  assert.equal((await health('other')).breaker, 'closed', 'only that worker');

  const closed = await order('spender', { state: 'closed' });
  assert.equal(closed.status, 200, closed.text);
  assert.deepEqual([closed.body.health.breaker, closed.body.health.held, closed.body.health.available], ['closed', false, true]);
  assert.equal((await h.waitTerminal(q.body.request_id, c.key)).status, 'COMPLETED');

  const audit = (await h.call('GET', '/admin/audit?limit=100000', { key: h.adminKey })).body.entries.filter((e: Json) => e.data?.action === 'worker:breaker');
  assert.deepEqual(audit.slice(-2).map((e: Json) => [e.actor, e.data.name, e.data.state, e.data.reason ?? null]), [['admin', 'spender', 'open', 'provider incident'], ['admin', 'spender', 'closed', null]]);
});

test('closing by hand also closes a breaker that failures opened', async () => {
  // Point "other" at nothing: two failed probes open it.
  assert.equal((await h.call('PATCH', '/admin/workers/other', { key: h.adminKey, json: { url: 'http://127.0.0.1:9/' } })).status, 200);
  for (let i = 0; i < 2; i++) await h.call('POST', '/admin/workers/other/probe', { key: h.adminKey });
  const opened = await health('other');
  assert.deepEqual([opened.breaker, opened.held], ['open', false]);
  const r = await order('other', { state: 'closed' });
  assert.deepEqual([r.body.health.breaker, r.body.health.consecutive_failures, r.body.health.dispatch_failures], ['closed', 0, 0]);
  assert.equal((await h.call('PATCH', '/admin/workers/other', { key: h.adminKey, json: { url: worker.url } })).status, 200);
});

test('bad orders are refused with the field named; unknown worker 404; admin only; in the OpenAPI document', async () => {
  assertEnvelope(await order('spender', { state: 'ajar' }), 400, 'VALIDATION_ERROR');
  assertEnvelope(await order('spender', {}), 400, 'VALIDATION_ERROR');
  assertEnvelope(await order('spender', { state: 'open', extra: 1 }), 400, 'VALIDATION_ERROR');
  assertEnvelope(await order('nobody', { state: 'open' }), 404, 'NOT_FOUND');
  const c = await h.createClient('standard');
  assertEnvelope(await order('spender', { state: 'open' }, c.key), 403, 'FORBIDDEN');
  assertEnvelope(await h.call('POST', '/admin/workers/spender/breaker', { json: { state: 'open' } }), 401, 'UNAUTHORIZED');
  assert.equal((await health('spender')).breaker, 'closed', 'refused orders changed nothing');
  const doc = await h.call('GET', '/openapi.json');
  assert.equal(doc.body.paths['/admin/workers/{name}/breaker']?.post?.operationId, 'setWorkerBreaker');
});

test('the order is kept: an Allot started on the same database holds the worker open too', async () => {
  assert.equal((await order('spender', { state: 'open' })).status, 200);
  const second = await buildAllot(h.config, { logger: pino({ level: 'silent' }) });
  try {
    await second.start();
    const r = await second.app.request('/admin/workers/spender', { headers: { authorization: `Bearer ${h.adminKey}` } });
    const w = (await r.json()) as Json;
    assert.deepEqual([w.worker.health.breaker, w.worker.health.held], ['open', true]);
  } finally {
    await second.stop(0);
  }
  assert.equal((await order('spender', { state: 'closed' })).status, 200);
});

test('an order given by a clock behind the last one still comes after it, so every instance takes it', async () => {
  const first = await saveBreakerOrder(h.store, 'other', { state: 'open' }, 2_000_000_000_000, 'admin');
  const behind = await saveBreakerOrder(h.store, 'other', { state: 'closed' }, 1_000, 'admin');
  assert.equal(behind.at, first.at + 1);
  assert.ok(h.deps.health.order('other', first));
  assert.equal((await health('other')).held, true);
  assert.ok(h.deps.health.order('other', behind), 'the later order is applied');
  assert.equal(h.deps.health.order('other', behind), false, 'once');
  assert.deepEqual([(await health('other')).breaker, (await health('other')).held], ['closed', false]);
});

test('a deleted worker\'s order goes with it: a new worker by that name starts closed', async () => {
  const made = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'temp', transport: 'http', url: worker.url } });
  assert.equal(made.status, 201, made.text);
  assert.equal((await order('temp', { state: 'open' })).status, 200);
  assert.equal((await health('temp')).held, true);
  assert.equal((await h.call('DELETE', '/admin/workers/temp', { key: h.adminKey })).status, 200);
  assert.equal(await h.store.getSetting('breaker:temp'), null, 'the kept order is gone');
  assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'temp', transport: 'http', url: worker.url } })).status, 201);
  const again = await health('temp');
  assert.deepEqual([again.breaker, again.held, again.available], ['closed', false, true]);
});
