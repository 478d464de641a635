/**
 * Tenant isolation, swept over the whole client API: client A's key against
 * every /api route the OpenAPI document lists, given client B's request ids
 * (B's work in every state), B's client id and B's idempotency key wherever a
 * route takes one. Another client's request is not found (404, the same
 * answer as an id that does not exist, so A cannot tell it exists), another
 * client's data is forbidden (403, the same for a client that does not
 * exist), and no answer A gets carries anything of B's: its request ids,
 * client id, inputs, outputs, idempotency key or pools. A route added later
 * without probes here fails the sweep.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHarness, type CallResult, type Harness } from '../helpers/app-harness.ts';
import { baseConfig, startWorkers, type Workers } from './fixtures.ts';

let h: Harness;
let w: Workers;

before(async () => {
  w = await startWorkers();
  const config = baseConfig(w);
  h = await startHarness({ ...config, templates: { ...(config.templates as object), cached: { worker: 'lab', cache_ttl_s: 3600 } } });
});

after(async () => {
  await h?.close();
  await w?.close();
});

interface Probe {
  readonly method: string;
  readonly path: string;
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
  readonly status: number;
  /** B's id this probe sends (its echo in the answer is no leak). */
  readonly sent?: string;
  /** The same probe with an id that does not exist: the answers must be the same, ids aside. */
  readonly twin?: { readonly path: string; readonly json?: unknown; readonly sent: string };
}

test("client A's key on every /api route, with client B's ids: 404 or 403 as for ids that do not exist, and nothing of B's in any answer", async () => {
  const a = await h.createClient('standard');
  const b = await h.createClient('premium');
  const secret = `b-secret-${randomUUID()}`;
  const idemKey = `b-order-${randomUUID()}`;
  // A's own request, older than all of B's: paging from B's ids must not find it.
  const mine = await h.call('POST', '/api/execute', { key: a.key, json: { template: 'lab', input: { mode: 'echo', mine: true } } });
  assert.equal(mine.body.status, 'COMPLETED', mine.text);

  // B's work in every state: completed, failed, cached, running, queued (under an idempotency key).
  const run = async (input: Record<string, unknown>, template = 'lab'): Promise<string> => {
    const r = await h.call('POST', '/api/execute', { key: b.key, json: { template, input } });
    assert.equal(r.status, 200, r.text);
    return r.body.request_id;
  };
  const done = await run({ mode: 'echo', secret });
  const failed = await run({ mode: 'fatal', secret });
  const cachedInput = { mode: 'echo', question: 'what is a token bucket?' };
  const cached = await run(cachedInput, 'cached');
  const gate = await h.call('POST', '/api/queue/enqueue', { key: b.key, json: { template: 'lab', input: { mode: 'gate', secret } } });
  const running: string = gate.body.request_id;
  await w.lab.reached(running);
  assert.equal((await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey })).status, 200);
  const queued = await h.call('POST', '/api/queue/enqueue', { key: b.key, json: { template: 'lab', input: { mode: 'echo', secret } }, headers: { 'idempotency-key': idemKey } });
  assert.equal(queued.status, 202, queued.text);
  const pending: string = queued.body.request_id;
  const pools = await h.call('PUT', '/admin/resources/llm.mini/pools', { key: h.adminKey, json: { pools: [{ name: `pool-of-${b.id}`, kind: 'dedicated', client: b.id, share: 0.1 }] } });
  assert.equal(pools.status, 200, pools.text);
  const bIds = [done, failed, cached, running, pending];

  try {
    const ghostRequest = randomUUID();
    const ghostClient = 'cl_nobody000000';
    const byRequest = (method: string, path: (id: string) => string): Probe[] =>
      bIds.map((id) => ({ method, path: path(id), status: 404, sent: id, twin: { path: path(ghostRequest), sent: ghostRequest } }));
    const byClient = (method: string, path: (id: string) => string): Probe[] => [{ method, path: path(b.id), status: 403, sent: b.id, twin: { path: path(ghostClient), sent: ghostClient } }];
    const estimate = { template: 'summarize', input: { text: 'a few words to count' } };

    const probes: Record<string, Probe[]> = {
      'GET /api/execution/{requestId}': byRequest('GET', (id) => `/api/execution/${id}`),
      'GET /api/execution/{requestId}/events': byRequest('GET', (id) => `/api/execution/${id}/events`),
      'POST /api/execution/{requestId}/cancel': byRequest('POST', (id) => `/api/execution/${id}/cancel`),
      'DELETE /api/queue/{requestId}': byRequest('DELETE', (id) => `/api/queue/${id}`),
      'GET /api/queue/position/{requestId}': byRequest('GET', (id) => `/api/queue/position/${id}`),
      'GET /api/cost/{requestId}': byRequest('GET', (id) => `/api/cost/${id}`),
      'GET /api/usage/{clientId}': byClient('GET', (id) => `/api/usage/${id}`),
      'GET /api/usage/{clientId}/current': byClient('GET', (id) => `/api/usage/${id}/current`),
      'GET /api/optimize/recommendations/{clientId}': byClient('GET', (id) => `/api/optimize/recommendations/${id}`),
      'GET /api/optimize/stats/{clientId}': byClient('GET', (id) => `/api/optimize/stats/${id}`),
      'POST /api/optimize/analyze': [{ method: 'POST', path: '/api/optimize/analyze', json: { client_id: b.id }, status: 403, sent: b.id, twin: { path: '/api/optimize/analyze', json: { client_id: ghostClient }, sent: ghostClient } }],
      'GET /api/executions': [
        { method: 'GET', path: '/api/executions', status: 200 },
        { method: 'GET', path: '/api/executions?status=PENDING,RUNNING,COMPLETED,FAILED,CANCELLED&template=lab', status: 200 },
        // Paging from B's id answers as from an id that does not exist: neither its existence nor its time shows.
        ...bIds.map((id) => ({ method: 'GET', path: `/api/executions?before=${id}`, status: 200, sent: id, twin: { path: `/api/executions?before=${ghostRequest}`, sent: ghostRequest } })),
      ],
      // B's idempotency key is B's: A gets a request of its own, not B's, and not a mismatch that says the key was used.
      'POST /api/queue/enqueue': [{ method: 'POST', path: '/api/queue/enqueue', json: { template: 'lab', input: { mode: 'echo', a: 1 } }, headers: { 'idempotency-key': idemKey }, status: 202 }],
      // The same in a bulk submission, beside B's cached question: A's own requests, no id of B's.
      'POST /api/queue/enqueue/batch': [{
        method: 'POST', path: '/api/queue/enqueue/batch', status: 200,
        json: { requests: [{ template: 'lab', input: { mode: 'echo', a: 1 }, idempotency_key: idemKey }, { template: 'cached', input: cachedInput }] },
      }],
      // The same question as B's cached one: answered from the cache, without B's request id.
      'POST /api/execute': [{ method: 'POST', path: '/api/execute', json: { template: 'cached', input: cachedInput }, status: 200 }],
      'GET /api/queue/status': [{ method: 'GET', path: '/api/queue/status', status: 200 }],
      'GET /api/resources/availability': [{ method: 'GET', path: '/api/resources/availability', status: 200 }],
      'POST /api/resources/check': [{ method: 'POST', path: '/api/resources/check', json: { resources: { 'llm.mini': 10 } }, status: 200 }],
      'POST /api/resources/estimate': [{ method: 'POST', path: '/api/resources/estimate', json: estimate, status: 200 }],
      'POST /api/cost/estimate': [{ method: 'POST', path: '/api/cost/estimate', json: estimate, status: 200 }],
      // Payloads by reference are for workers, whoever made them.
      'GET /api/data/{refId}': [{ method: 'GET', path: '/api/data/ref_0000', status: 403 }],
    };

    // Every client route is probed.
    const doc = (await h.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).filter((r) => r.split(' ')[1]?.startsWith('/api/'));
    assert.deepEqual(Object.keys(probes).toSorted(), routes.toSorted(), 'every /api route has probes here');

    const call = (p: { method: string; path: string; json?: unknown; headers?: Record<string, string> }): Promise<CallResult> =>
      h.call(p.method, p.path, { key: a.key, ...(p.json === undefined ? {} : { json: p.json }), ...(p.headers ? { headers: p.headers } : {}) });
    const marks = [...bIds, b.id, secret, idemKey, `pool-of-${b.id}`];
    for (const [route, list] of Object.entries(probes)) {
      for (const p of list) {
        const r = await call(p);
        const where = `${route}: ${p.method} ${p.path}`;
        assert.equal(r.status, p.status, `${where} → ${r.status} ${r.text.slice(0, 300)}`);
        const seen = p.sent ? r.text.replaceAll(p.sent, '<id>') : r.text;
        for (const m of marks) assert.ok(!seen.includes(m), `${where} shows B's ${m}: ${seen.slice(0, 300)}`);
        if (p.twin) {
          const t = await call({ method: p.method, path: p.twin.path, json: p.twin.json });
          assert.equal(t.status, r.status, `${where}: as for an id that does not exist`);
          assert.equal(seen, t.text.replaceAll(p.twin.sent, '<id>'), `${where}: the same answer as for an id that does not exist`);
        }
        if (route === 'POST /api/queue/enqueue' || route === 'POST /api/execute') {
          const mineNow = await h.call('GET', `/api/execution/${r.body.request_id}`, { key: a.key });
          assert.equal(mineNow.body.client_id, a.id, `${where}: A's own request`);
        }
        if (route === 'POST /api/execute') assert.deepEqual(r.body.cache, { hit: true, source_request_id: null }, where);
      }
    }

    // B sees its own pool; the admin sees every pool.
    for (const key of [b.key, h.adminKey]) {
      const v = await h.call('GET', '/api/resources/availability', { key });
      const mini = v.body.resources.find((x: { name: string }) => x.name === 'llm.mini');
      assert.deepEqual(mini.pools.map((x: { name: string; client: string | null }) => [x.name, x.client]), [['shared', null], [`pool-of-${b.id}`, b.id]]);
    }

    // Paging from A's own ids still works.
    const own = await call({ method: 'GET', path: '/api/executions' });
    const newest: string = own.body.requests[0].request_id;
    const paged = await call({ method: 'GET', path: `/api/executions?before=${newest}` });
    assert.ok(paged.body.requests.some((x: { request_id: string }) => x.request_id === mine.body.request_id), paged.text);

    // B's work is as it was: A's cancels and dequeues did nothing.
    const states = await Promise.all(bIds.map(async (id) => (await h.call('GET', `/api/execution/${id}`, { key: b.key })).body.status));
    assert.deepEqual(states, ['COMPLETED', 'FAILED', 'COMPLETED', 'RUNNING', 'PENDING']);
  } finally {
    w.lab.release(running);
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
  assert.equal((await h.waitTerminal(pending, b.key)).status, 'COMPLETED');
});

test('no request caused an internal error', () => {
  assert.deepEqual(h.internalErrors, []);
});
