/**
 * Issue 9, probe finding 5: bounds on every duration, amount and depth, each
 * refused with 400 naming the field (the API) or a config error naming the
 * key (start-up). The probes found: a template timeout_ms of 3e9 accepted,
 * then every request failed in 4 ms (timer overflow); an input nested 5,000+
 * deep answered 500; a budget of 1e308 showed as null.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

let worker: HttpWorkerServer;
let deep: HttpWorkerServer;
let h: Harness;

const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};
/** The JSON text of nested(depth), built as text: JSON.stringify itself overflows the stack at such depths. */
const nestedJson = (depth: number): string => `${'{"a":'.repeat(depth)}"leaf"${'}'.repeat(depth)}`;

before(async () => {
  worker = await serveHttp(defineWorker({ name: 'echo', dedupe: false, handler: (job) => ({ got: Object.keys(job.input) }) }));
  // A worker (not the SDK, which would refuse to send it) answering an output nested 20,000 deep.
  const raw = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"success":true,"output":${nestedJson(20_000)},"usage":{"tokens":{"input":1,"output":1}}}`));
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
  deep = { url: `http://127.0.0.1:${(raw.address() as AddressInfo).port}/`, port: 0, close: () => new Promise<void>((r) => raw.close(() => r())) };
  h = await startHarness({
    workers: { echo: { transport: 'http', url: worker.url }, deep: { transport: 'http', url: deep.url } },
    templates: { echo: { worker: 'echo', timeout_ms: 5_000 }, deep: { worker: 'deep', max_attempts: 1 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
  await deep?.close();
});

describe('what the probes found', () => {
  test('a template timeout_ms past what a timer can hold (3e9) is refused, naming the field', async () => {
    const r = await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'forever', worker: 'echo', timeout_ms: 3e9 } });
    assertEnvelope(r, 400, 'VALIDATION_ERROR');
    assert.match(r.body.error.message, /timeout_ms/);
    assert.equal((await h.call('GET', '/admin/templates/forever', { key: h.adminKey })).status, 404, 'nothing was stored');
  });

  test('an input (or parameters) nested 5,000 deep is a 400 naming it, on every way in, never a 500', async () => {
    const c = await h.createClient('standard');
    const body = `{"template":"echo","input":${nestedJson(5_000)}}`;
    for (const path of ['/api/queue/enqueue', '/api/execute', '/api/resources/estimate', '/api/cost/estimate']) {
      const r = await h.call('POST', path, { key: c.key, body });
      assertEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.match(r.body.error.message, /^input: nests objects and arrays more than 64 deep/, path);
    }
    const withKey = await h.call('POST', '/api/queue/enqueue', { key: c.key, body, headers: { 'Idempotency-Key': 'deep-1' } });
    assertEnvelope(withKey, 400, 'VALIDATION_ERROR');
    const params = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'echo', input: {}, parameters: nested(100) } });
    assertEnvelope(params, 400, 'VALIDATION_ERROR');
    assert.match(params.body.error.message, /^parameters: /);
    // 64 deep is fine.
    const ok = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'echo', input: nested(63) } });
    assert.equal(ok.body.status, 'COMPLETED', ok.text);
    assert.deepEqual(h.internalErrors, []);
  });

  test('a budget of 1e308 is refused, naming monthly_budget_usd, wherever a budget is set', async () => {
    const create = await h.call('POST', '/admin/clients', { key: h.adminKey, json: { name: 'rich', tier: 'standard', monthly_budget_usd: 1e308 } });
    assertEnvelope(create, 400, 'VALIDATION_ERROR');
    assert.match(create.body.error.message, /monthly_budget_usd/);
    const c = await h.createClient('standard');
    const patch = await h.call('PATCH', `/admin/clients/${c.id}`, { key: h.adminKey, json: { monthly_budget_usd: 1e308 } });
    assertEnvelope(patch, 400, 'VALIDATION_ERROR');
    assert.match(patch.body.error.message, /monthly_budget_usd/);
    const tier = await h.call('PATCH', '/admin/tiers/standard', { key: h.adminKey, json: { monthly_budget_usd: 1e308 } });
    assertEnvelope(tier, 400, 'VALIDATION_ERROR');
    assert.match(tier.body.error.message, /monthly_budget_usd/);
    // The largest budget that keeps nano-USD exact is accepted and shown as given.
    const max = await h.call('POST', '/admin/clients', { key: h.adminKey, json: { name: 'big', tier: 'standard', monthly_budget_usd: 9_000_000 } });
    assert.equal(max.status, 201, max.text);
    assert.equal(max.body.client.monthly_budget_usd, 9_000_000);
  });

  test('a worker answering an output nested 20,000 deep fails that request (WORKER_ERROR), nothing crashes', async () => {
    const c = await h.createClient('standard');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'deep', input: {} } });
    assert.equal(r.body.status, 'FAILED', r.text);
    assert.equal(r.body.error.code, 'WORKER_ERROR');
    assert.match(r.body.error.message, /nested more than/);
    assert.deepEqual(h.internalErrors, []);
  });
});

describe('every bounded field of the API is refused out of range, naming it', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ['POST', '/admin/templates', { name: 't1', worker: 'echo', timeout_ms: 86_400_001 }, 'timeout_ms'],
    ['POST', '/admin/templates', { name: 't2', worker: 'echo', max_tokens: 1e9 }, 'max_tokens'],
    ['POST', '/admin/templates', { name: 't3', worker: 'echo', retry: { base_delay_ms: 1e12 } }, 'retry.base_delay_ms'],
    ['POST', '/admin/templates', { name: 't4', worker: 'echo', retry: { factor: 1e6 } }, 'retry.factor'],
    ['POST', '/admin/templates', { name: 't5', worker: 'echo', cache_ttl_s: 1e10 }, 'cache_ttl_s'],
    ['POST', '/admin/templates', { name: 't6', worker: 'echo', offpeak: { allowed: true, deadline_ms: 1e15 } }, 'offpeak.deadline_ms'],
    ['POST', '/admin/templates', { name: 't7', worker: 'echo', downgrade: { max_wait_ms: 1e15 } }, 'downgrade.max_wait_ms'],
    ['POST', '/admin/templates', { name: 't8', worker: 'echo', resources: { email: 1e15 } }, 'resources.email'],
    ['POST', '/admin/templates', { name: 't9', stages: [{ worker: 'echo', timeout_ms: 1e10 }] }, 'stages.0.timeout_ms'],
    ['POST', '/admin/templates', { name: 't10', worker: 'echo', parameters: nested(100) as Record<string, unknown> }, 'parameters'],
    ['POST', '/admin/workers', { name: 'w1', transport: 'http', url: 'http://127.0.0.1:9/', max_concurrency: 1e9 }, 'max_concurrency'],
    ['POST', '/admin/clients', { name: 'c1', tier: 'standard', max_concurrent: 1e12 }, 'max_concurrent'],
    ['POST', '/admin/clients', { name: 'c2', tier: 'standard', monthly_budget_usd: 9_000_001 }, 'monthly_budget_usd'],
    ['PATCH', '/admin/tiers/basic', { max_concurrent: 1e12 }, 'max_concurrent'],
    ['PATCH', '/admin/resources/email', { capacity: 1e15 }, 'capacity'],
    ['PATCH', '/admin/resources/email', { refill_per_s: 1e15 }, 'refill_per_s'],
    ['PATCH', '/admin/resources/email', { cost_per_unit_usd: 1e6 }, 'cost_per_unit_usd'],
    ['PATCH', '/admin/resources/openai.gpt-4', { input_overhead_tokens: 1e9 }, 'input_overhead_tokens'],
    ['POST', '/api/resources/check', { resources: { email: 1e15 } }, 'resources.email'],
    ['POST', '/api/queue/enqueue', { template: 'echo', input: {}, max_tokens: 1e12 }, 'max_tokens'],
    ['POST', '/api/execute', { template: 'echo', input: {}, wait_ms: 1e9 }, 'wait_ms'],
  ];
  for (const [method, path, body, field] of cases) {
    test(`${method} ${path} ${field}`, async () => {
      const key = path.startsWith('/api/') ? (await h.createClient('standard')).key : h.adminKey;
      const r = await h.call(method, path, { key, json: body });
      assertEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.ok((r.body.error.message as string).includes(field), `${r.body.error.message} names ${field}`);
    });
  }

  test('query parameters too: limit out of range is a 400', async () => {
    const c = await h.createClient('standard');
    assertEnvelope(await h.call('GET', '/api/executions?limit=1000000', { key: c.key }), 400, 'VALIDATION_ERROR');
    assertEnvelope(await h.call('GET', '/admin/audit?limit=1e12', { key: h.adminKey }), 400, 'VALIDATION_ERROR');
  });
});

describe('every bounded key of the config file stops start-up, naming it', () => {
  const resolve = (config: unknown): void => {
    resolveConfig({ ALLOT_CONFIG: '/virtual/allot.json', ALLOT_DB: ':memory:' }, () => JSON.stringify(config));
  };
  const cases: [string, unknown][] = [
    ['templates.t.timeout_ms', { workers: { w: { transport: 'http', url: 'http://x/' } }, templates: { t: { worker: 'w', timeout_ms: 3e9 } } }],
    ['tiers.basic.monthly_budget_usd', { tiers: { basic: { priority_points: 10, max_concurrent: 5, monthly_budget_usd: 1e308 } } }],
    ['resources.r.capacity', { resources: { r: { capacity: 1e300, refill_per_s: 1, cost_per_unit_usd: 0 } } }],
    ['resources.r.cost_per_unit_usd', { resources: { r: { capacity: 10, refill_per_s: 1, cost_per_unit_usd: 1e9 } } }],
    ['scheduler.starvation_ms', { scheduler: { starvation_ms: 1e12 } }],
    ['scheduler.reaper_interval_ms', { scheduler: { reaper_interval_ms: 3e9 } }],
    ['scheduler.hold_after_ms', { scheduler: { hold_after_ms: 1e15 } }],
    ['scheduler.lease_grace_ms', { scheduler: { lease_grace_ms: 1e10 } }],
    ['scheduler.max_queue_depth', { scheduler: { max_queue_depth: 1e12 } }],
    ['scheduler.offpeak.low_utilization.for_ms', { scheduler: { offpeak: { low_utilization: { below: 0.3, for_ms: 1e12 } } } }],
    ['alerts.interval_ms', { alerts: { interval_ms: 3e9 } }],
    ['worker_health.interval_ms', { worker_health: { interval_ms: 3e9 } }],
    ['worker_health.cooldown_ms', { worker_health: { cooldown_ms: 1e12 } }],
    ['migration.poll_interval_ms', { migration: { poll_interval_ms: 3e9 } }],
    ['migration.timeout_ms', { migration: { timeout_ms: 1e13 } }],
    ['limits.max_body_bytes', { limits: { max_body_bytes: 1e13 } }],
    ['limits.max_json_depth', { limits: { max_json_depth: 100_000 } }],
    ['limits.request_timeout_ms', { limits: { request_timeout_ms: 3e9 } }],
  ];
  for (const [key, config] of cases) {
    test(key, () => {
      assert.throws(() => resolve(config), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.startsWith(`${key}:`)), key);
    });
  }
});
