/** Service endpoints: root, health, status, metrics, the OpenAPI document, unknown routes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';
import { ARTICLE, baseConfig, startWorkers, type Workers } from './fixtures.ts';

let h: Harness;
let w: Workers;

before(async () => {
  w = await startWorkers();
  h = await startHarness(baseConfig(w));
});

after(async () => {
  await h?.close();
  await w?.close();
});

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('service endpoints (no auth)', () => {
  test('GET / names the service and its links', async () => {
    const r = await h.call('GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.body.service, 'allot');
    assert.equal(r.body.version, VERSION);
    assert.equal(r.body.docs, '/openapi.json');
    assert.equal(r.body.health, '/health');
    assert.equal(r.body.metrics, '/metrics');
  });

  test('GET /health checks storage and reports the scheduler', async () => {
    const r = await h.call('GET', '/health');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'healthy');
    assert.deepEqual(r.body.checks, { storage: 'ok', scheduler: 'running' });
    assert.equal(r.body.version, VERSION);
    assert.ok(Number.isInteger(r.body.uptime_s) && r.body.uptime_s >= 0);
    assert.ok(Math.abs(Date.parse(r.body.timestamp) - Date.now()) < 5000);
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    assert.equal((await h.call('GET', '/health')).body.checks.scheduler, 'paused');
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    assert.equal((await h.call('GET', '/health')).body.checks.scheduler, 'running');
  });

  test('GET /status counts requests by state and shows queues, resources and workers', async () => {
    const c = await h.createClient('standard');
    const done = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'summarize', input: { text: ARTICLE } } });
    assert.equal(done.body.status, 'COMPLETED');
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    let queued: string;
    try {
      queued = (await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'summarize', input: { text: ARTICLE } } })).body.request_id;
      const r = await h.call('GET', '/status');
      assert.equal(r.status, 200);
      assert.equal(r.body.scheduler, 'paused');
      assert.ok(r.body.requests.COMPLETED >= 1);
      assert.equal(r.body.requests.PENDING, 1);
      assert.equal(r.body.queue.depth, 1);
      assert.equal(r.body.resources['llm.mini'].capacity, 100_000);
      assert.ok(r.body.resources['llm.mini'].available <= 100_000);
      const names = r.body.workers.map((x: { name: string }) => x.name).toSorted();
      assert.deepEqual(names, ['lab', 'summarizer', 'summarizer-slow']);

      const metrics = await h.call('GET', '/metrics', { key: h.adminKey });
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(metrics.text, /^# TYPE allot_requests_total counter$/m);
      assert.match(metrics.text, /^allot_requests_total\{outcome="completed",template="summarize"\} [1-9]\d*$/m);
      assert.match(metrics.text, /^allot_requests_total\{outcome="accepted",template="summarize"\} [2-9]\d*$/m);
      assert.match(metrics.text, /^# TYPE allot_queue_depth gauge$/m);
      assert.match(metrics.text, /^allot_queue_depth\{level="normal"\} 1$/m);
      assert.match(metrics.text, /^allot_queue_depth\{level="immediate"\} 0$/m);
      assert.match(metrics.text, /^allot_resource_available\{resource="llm\.mini"\} /m);
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
    await h.waitTerminal(queued, c.key);
    const m2 = await h.call('GET', '/metrics', { key: h.adminKey });
    assert.match(m2.text, /^allot_queue_depth\{level="normal"\} 0$/m);
  });

  test('GET /api/resources/availability and /api/queue/status for a client', async () => {
    const c = await h.createClient('basic');
    const a = await h.call('GET', '/api/resources/availability', { key: c.key });
    assert.equal(a.status, 200);
    const tiny = a.body.resources.find((r: { name: string }) => r.name === 'llm.tiny');
    assert.equal(tiny.capacity, 300);
    assert.equal(tiny.unit, 'token');
    assert.ok(tiny.available >= 0 && tiny.available <= 300);
    assert.ok(tiny.utilization >= 0 && tiny.utilization <= 1);
    const q = await h.call('GET', '/api/queue/status', { key: c.key });
    assert.equal(q.status, 200);
    assert.deepEqual(Object.keys(q.body.levels).toSorted(), ['batch', 'deferred', 'fast', 'immediate', 'normal']);
    assert.equal(q.body.scheduler, 'running');
  });
});

describe('GET /openapi.json', () => {
  test('is valid JSON with a path for every SPEC section 7 endpoint that is implemented', async () => {
    const r = await h.call('GET', '/openapi.json');
    assert.equal(r.status, 200);
    const doc = JSON.parse(r.text) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\.1/);
    assert.equal(doc.info.version, VERSION);
    const expected: Array<[string, string]> = [
      ['post', '/api/queue/enqueue'],
      ['post', '/api/execute'],
      ['get', '/api/execution/{requestId}'],
      ['post', '/api/execution/{requestId}/cancel'],
      ['delete', '/api/queue/{requestId}'],
      ['get', '/api/queue/position/{requestId}'],
      ['get', '/api/queue/status'],
      ['get', '/api/resources/availability'],
      ['post', '/api/resources/check'],
      ['post', '/api/resources/estimate'],
      ['post', '/api/cost/estimate'],
      ['get', '/api/cost/{requestId}'],
      ['get', '/api/usage/{clientId}'],
      ['get', '/api/usage/{clientId}/current'],
      ['post', '/admin/scheduler/start'],
      ['post', '/admin/scheduler/stop'],
      ['get', '/admin/alerts'],
      ['get', '/'],
      ['get', '/health'],
      ['get', '/status'],
    ];
    const missing = expected.filter(([m, p]) => !doc.paths[p]?.[m]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
    assert.deepEqual(missing, []);
    // Documented paths really answer (not 404) — the document matches the app.
    for (const [m, p] of expected) {
      const path = p.replace('{requestId}', '00000000-0000-7000-8000-000000000000').replace('{clientId}', 'cl_x');
      const res = await h.app.request(path, { method: m.toUpperCase(), headers: { authorization: `Bearer ${h.adminKey}` } });
      if (res.status === 404) {
        const body = (await res.json()) as { error: { message: string } };
        assert.doesNotMatch(body.error.message, /^No route/, `${m} ${p} is documented but not routed`);
      }
    }
    const enqueue = doc.paths['/api/queue/enqueue']?.post as { responses: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> };
    for (const s of ['202', '200', '400', '401', '402', '422']) assert.ok(enqueue.responses[s], `enqueue documents ${s}`);
    assert.ok(enqueue.parameters?.some((p) => p.name.toLowerCase() === 'idempotency-key' && p.in === 'header'), 'Idempotency-Key header is documented');
  });

  test('every operation has an operationId, unique, in lowerCamelCase: generated clients get these names, not ones made from paths', async () => {
    const doc = JSON.parse((await h.call('GET', '/openapi.json')).text) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ at: `${m.toUpperCase()} ${path}`, id: op.operationId })));
    assert.ok(ops.length >= 70, `${ops.length} operations`);
    assert.deepEqual(ops.filter((o) => !o.id).map((o) => o.at), [], 'operations without an operationId');
    for (const o of ops) assert.match(o.id as string, /^[a-z][A-Za-z0-9]+$/, o.at);
    const seen = new Map<string, string>();
    for (const o of ops) {
      assert.equal(seen.get(o.id as string), undefined, `${o.id} names both ${seen.get(o.id as string)} and ${o.at}`);
      seen.set(o.id as string, o.at);
    }
    assert.equal(doc.paths['/api/queue/enqueue']?.post?.operationId, 'enqueueRequest');
    assert.equal(doc.paths['/api/execute']?.post?.operationId, 'executeRequest');
  });
});

describe('unknown routes', () => {
  test('404 NOT_FOUND envelope for unknown paths and methods', async () => {
    const c = await h.createClient('basic');
    const r = await h.call('GET', '/nope');
    assertEnvelope(r, 404, 'NOT_FOUND');
    assert.match(r.body.error.message, /GET \/nope/);
    assertEnvelope(await h.call('DELETE', '/health'), 404, 'NOT_FOUND');
    assertEnvelope(await h.call('GET', '/api/nope', { key: c.key }), 404, 'NOT_FOUND');
    assertEnvelope(await h.call('PUT', '/api/queue/enqueue', { key: c.key, json: {} }), 404, 'NOT_FOUND');
    // Under /api and /admin, authentication comes first: no route discovery without a key.
    assertEnvelope(await h.call('GET', '/api/nope'), 401, 'UNAUTHORIZED');
    assertEnvelope(await h.call('GET', '/admin/nope', { key: c.key }), 403, 'FORBIDDEN');
  });
});

describe('every error in this file', () => {
  test('was the SPEC envelope (checked on each response by the harness)', () => {
    assert.ok(h.errorResponses.length >= 6);
    for (const r of h.errorResponses) assertEnvelope(r);
  });

  test('no request caused an internal error', () => {
    assert.deepEqual(h.internalErrors, []);
  });
});

test('GET /health is 503 unhealthy when storage fails', async () => {
  const ww = await startWorkers();
  const h2 = await startHarness(baseConfig(ww));
  try {
    await h2.store.close();
    const res = await h2.app.request('/health');
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; checks: { storage: string } };
    assert.equal(body.status, 'unhealthy');
    assert.match(body.checks.storage, /^error: /);
  } finally {
    await h2.close();
    await ww.close();
  }
});
