/** Authentication and tenant isolation over the in-process app. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
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

describe('authentication', () => {
  test('no key, a malformed header and an unknown key are 401 UNAUTHORIZED envelopes', async () => {
    for (const path of ['/api/queue/status', '/admin/clients']) {
      assertEnvelope(await h.call('GET', path), 401, 'UNAUTHORIZED');
      assertEnvelope(await h.call('GET', path, { key: 'ak_not-a-real-key-at-all' }), 401, 'UNAUTHORIZED');
      assertEnvelope(await h.call('GET', path, { headers: { authorization: `Basic ${h.adminKey}` } }), 401, 'UNAUTHORIZED');
      assertEnvelope(await h.call('GET', path, { headers: { authorization: 'Bearer ' } }), 401, 'UNAUTHORIZED');
    }
    const r = await h.call('POST', '/api/queue/enqueue', { json: { template: 'summarize', input: { text: ARTICLE } } });
    assertEnvelope(r, 401, 'UNAUTHORIZED');
    assert.match(r.body.error.message, /Bearer/);
  });

  test('the Bearer scheme is case-insensitive (RFC 9110)', async () => {
    const c = await h.createClient('standard');
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      assert.equal((await h.call('GET', '/api/queue/status', { headers: { authorization: `${scheme} ${c.key}` } })).status, 200, scheme);
      assert.equal((await h.call('GET', '/admin/clients', { headers: { authorization: `${scheme}   ${h.adminKey}` } })).status, 200, scheme);
    }
    assertEnvelope(await h.call('GET', '/api/queue/status', { headers: { authorization: `Bearerx ${c.key}` } }), 401, 'UNAUTHORIZED');
  });

  test('/metrics names every client and its costs: the admin key (or the metrics token) only', async () => {
    const c = await h.createClient('standard');
    assertEnvelope(await h.call('GET', '/metrics'), 401, 'UNAUTHORIZED');
    assertEnvelope(await h.call('GET', '/metrics', { key: c.key }), 403, 'FORBIDDEN');
    const ok = await h.call('GET', '/metrics', { key: h.adminKey });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^# TYPE allot_requests_total counter$/m);
    // /health stays open for load balancers and probes.
    assert.equal((await h.call('GET', '/health')).status, 200);
  });

  test('a client key on /admin is 403 FORBIDDEN', async () => {
    const c = await h.createClient('standard');
    for (const [m, p] of [['GET', '/admin/clients'], ['POST', '/admin/scheduler/stop'], ['GET', '/admin/alerts'], ['GET', '/admin/requests']] as const) {
      assertEnvelope(await h.call(m, p, { key: c.key }), 403, 'FORBIDDEN');
    }
    assert.equal(h.scheduler.paused, false, 'the forbidden stop must not have paused the scheduler');
  });

  test('the admin key cannot submit work (no client to charge): 403', async () => {
    const body = { template: 'summarize', input: { text: ARTICLE } };
    assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: h.adminKey, json: body }), 403, 'FORBIDDEN');
    assertEnvelope(await h.call('POST', '/api/execute', { key: h.adminKey, json: body }), 403, 'FORBIDDEN');
    const list = await h.call('GET', '/admin/requests', { key: h.adminKey });
    assert.equal(list.status, 200);
    assert.equal(list.body.requests.length, 0, 'nothing was queued');
  });

  test('a client key works on /api', async () => {
    const c = await h.createClient('basic');
    const r = await h.call('GET', '/api/queue/status', { key: c.key });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.client, { running: 0 });
  });
});

describe('isolation between clients', () => {
  test("client A cannot see, cancel, dequeue or locate client B's request, and cannot tell it exists", async () => {
    const a = await h.createClient('standard');
    const b = await h.createClient('standard');
    // Paused, so B's request stays PENDING and every action on it would otherwise succeed.
    assert.equal((await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey })).status, 200);
    try {
      const sub = await h.call('POST', '/api/queue/enqueue', { key: b.key, json: { template: 'summarize', input: { text: ARTICLE } } });
      assert.equal(sub.status, 202, sub.text);
      const id: string = sub.body.request_id;
      const ghost = randomUUID();

      const probes = (rid: string) =>
        [
          ['GET', `/api/execution/${rid}`],
          ['POST', `/api/execution/${rid}/cancel`],
          ['DELETE', `/api/queue/${rid}`],
          ['GET', `/api/queue/position/${rid}`],
          ['GET', `/api/cost/${rid}`],
        ] as const;
      const theirs = probes(id);
      const missing = probes(ghost);
      for (let i = 0; i < theirs.length; i++) {
        const [m, p] = theirs[i] as (typeof theirs)[number];
        const r = await h.call(m, p, { key: a.key });
        assertEnvelope(r, 404, 'NOT_FOUND');
        const [m2, p2] = missing[i] as (typeof missing)[number];
        const r2 = await h.call(m2, p2, { key: a.key });
        assertEnvelope(r2, 404, 'NOT_FOUND');
        // Same answer as for an id that does not exist, apart from the id itself: no existence leak.
        assert.equal(r.body.error.message.replace(id, '<id>'), r2.body.error.message.replace(ghost, '<id>'), `${m} ${p}`);
        assert.equal(r.body.error.details, undefined);
      }

      const listed = await h.call('GET', '/api/executions', { key: a.key });
      assert.equal(listed.status, 200);
      assert.ok(!listed.body.requests.some((x: { request_id: string }) => x.request_id === id));

      // B's request is untouched by A's attempts.
      const mine = await h.call('GET', `/api/execution/${id}`, { key: b.key });
      assert.equal(mine.status, 200);
      assert.equal(mine.body.status, 'PENDING');
      assert.equal(mine.body.client_id, b.id);

      // The admin sees it.
      const asAdmin = await h.call('GET', `/api/execution/${id}`, { key: h.adminKey });
      assert.equal(asAdmin.status, 200);
      assert.equal(asAdmin.body.request_id, id);

      const cancelled = await h.call('DELETE', `/api/queue/${id}`, { key: b.key });
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'CANCELLED');
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
  });

  test("client A cannot read B's usage (403); the admin can read anyone's", async () => {
    const a = await h.createClient('standard');
    const b = await h.createClient('premium');
    for (const p of [`/api/usage/${b.id}`, `/api/usage/${b.id}/current`]) {
      const r = await h.call('GET', p, { key: a.key });
      assertEnvelope(r, 403, 'FORBIDDEN');
      const own = await h.call('GET', p, { key: b.key });
      assert.equal(own.status, 200);
      assert.equal(own.body.client_id, b.id);
      const admin = await h.call('GET', p, { key: h.adminKey });
      assert.equal(admin.status, 200);
      assert.equal(admin.body.client_id, b.id);
      assert.equal(admin.body.tier, 'premium');
    }
    // The admin asking about a client that does not exist gets 404.
    assertEnvelope(await h.call('GET', '/api/usage/cl_nobody/current', { key: h.adminKey }), 404, 'NOT_FOUND');
  });
});

test('no request caused an internal error', () => {
  assert.deepEqual(h.internalErrors, []);
});

describe('the metrics token (ALLOT_METRICS_TOKEN)', () => {
  test('a scraper with the metrics token reads /metrics and nothing else', async () => {
    const token = `metrics-${randomUUID()}`;
    const m = await startHarness(baseConfig(w), { env: { ALLOT_METRICS_TOKEN: token } });
    try {
      const r = await m.call('GET', '/metrics', { key: token });
      assert.equal(r.status, 200);
      assert.match(r.text, /allot_queue_depth/);
      assertEnvelope(await m.call('GET', '/metrics', { key: `${token}x` }), 401, 'UNAUTHORIZED');
      assertEnvelope(await m.call('GET', '/admin/clients', { key: token }), 401, 'UNAUTHORIZED');
      assertEnvelope(await m.call('GET', '/api/queue/status', { key: token }), 401, 'UNAUTHORIZED');
      assert.equal((await m.call('GET', '/metrics', { key: m.adminKey })).status, 200, 'the admin key still reads it');
    } finally {
      await m.close();
    }
  });
});
