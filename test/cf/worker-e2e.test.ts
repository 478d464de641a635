/**
 * Allot as a Cloudflare Worker, end to end, in a local workerd (miniflare):
 * the bundled Worker (src/cf/worker.ts) on D1 and Durable Objects, a real
 * example worker (the summarizer, over HTTP on loopback), and two clients
 * using the same API as on Node: create clients and a template, register the
 * worker, submit, wait, follow, cancel, read cost and usage, errors in the
 * same envelope. Then a few hundred requests: all complete, each client is
 * charged exactly the sum of its requests, every hold is released, and the
 * token bucket never admitted more than its capacity plus its refill.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Miniflare } from 'miniflare';
import { WORKER_BINDINGS } from '../../src/cf/bindings.ts';
import { bundleForWorkers, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../../src/cf/build.ts';
import { Client, ROOT } from '../helpers/proc.ts';
import { startWorker, text, until, type RunningWorker } from '../e2e/harness.ts';

const ADMIN_KEY = 'cf-e2e-admin-key-0123456789';
const CAPACITY = 3000;
const REFILL = 6000;
const TOTAL = 300;

describe('Allot as a Worker (local workerd, D1, Durable Objects)', () => {
  let worker: RunningWorker;
  let mf: Miniflare;
  let admin: Client;
  const opened: Client[] = [];
  const as = (key: string): Client => {
    const c = new Client(mf_url, key);
    opened.push(c);
    return c;
  };
  let mf_url = '';
  const clients: { id: string; key: string }[] = [];

  let startedAt = 0;

  before(async () => {
    startedAt = performance.now();
    worker = await startWorker('examples/summarizer/server.ts');
    const bundle = await bundleForWorkers(`${ROOT}src/cf/worker.ts`);
    mf = new Miniflare({
      compatibilityDate: COMPATIBILITY_DATE, compatibilityFlags: [...COMPATIBILITY_FLAGS],
      modules: [{ type: 'ESModule', path: 'worker.mjs', contents: bundle.code }],
      d1Databases: [WORKER_BINDINGS.d1],
      durableObjects: Object.fromEntries(WORKER_BINDINGS.durableObjects.map((d) => [d.binding, { className: d.className, useSQLite: true }])),
      bindings: {
        ALLOT_ADMIN_KEY: ADMIN_KEY,
        ALLOT_LOG_LEVEL: 'warn',
        ALLOT_CONFIG_JSON: JSON.stringify({
          resources: {
            'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: CAPACITY, refill_per_s: REFILL, cost_per_unit_usd: 0.000002, input_cost_per_unit_usd: 0.000001, output_cost_per_unit_usd: 0.000003 },
          },
        }),
      },
      host: '127.0.0.1', port: 0,
    });
    mf_url = (await mf.ready).href;
    admin = as(ADMIN_KEY);
  });

  after(async () => {
    for (const c of opened) c.close();
    await mf?.dispose();
    await worker?.proc.stop();
  });

  it('serves the API: health, clients, a worker and a template created by the admin', async () => {
    assert.equal((await admin.request('GET', '/health')).status, 200);
    for (const tier of ['enterprise', 'basic']) {
      const r = await admin.request<{ client: { id: string }; api_key: string }>('POST', '/admin/clients', { name: `client-${tier}`, tier });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      clients.push({ id: r.body.client.id, key: r.body.api_key });
    }
    assert.equal((await admin.request('POST', '/admin/workers', { name: 'summarizer', transport: 'http', url: worker.url, max_concurrency: 16 })).status, 201);
    assert.equal((await admin.request('POST', '/admin/templates', { name: 'summarize', worker: 'summarizer', model: 'test-llm', max_tokens: 120, timeout_ms: 15_000 })).status, 201);
  });

  it('submits and waits, follows a request, and reads its cost and usage', async () => {
    const api = as((clients[0] as { key: string }).key);
    const done = await api.request<{ status: string; request_id: string; cost_usd: number; usage: { tokens: { input: number; output: number } } }>('POST', '/api/execute', { template: 'summarize', input: { text: text(1, 3), sentences: 1 } });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.status, 'COMPLETED');
    assert.ok(done.body.usage.tokens.input > 0 && done.body.cost_usd > 0);
    const again = await api.request<{ status: string; cost_usd: number }>('GET', `/api/execution/${done.body.request_id}`);
    assert.deepEqual([again.body.status, again.body.cost_usd], ['COMPLETED', done.body.cost_usd]);
    // Followed as Server-Sent Events: the stream of a finished request ends with its `end` event.
    const res = await fetch(new URL(`/api/execution/${done.body.request_id}/events`, mf_url), { headers: { authorization: `Bearer ${(clients[0] as { key: string }).key}` } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /event: end/);
  });

  it('cancels a queued request and releases its hold; errors use the same envelope and codes', async () => {
    const c = clients[1] as { id: string; key: string };
    const api = as(c.key);
    assert.equal((await admin.request('POST', '/admin/scheduler/stop')).status, 200);
    const q = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', input: { text: text(2, 2) } });
    assert.equal(q.status, 202);
    const held = await api.request<{ held_usd: number }>('GET', `/api/usage/${c.id}/current`);
    assert.ok(held.body.held_usd > 0);
    assert.equal((await api.request('DELETE', `/api/queue/${q.body.request_id}`)).status, 200);
    assert.equal((await api.request<{ status: string }>('GET', `/api/execution/${q.body.request_id}`)).body.status, 'CANCELLED');
    assert.equal((await api.request<{ held_usd: number }>('GET', `/api/usage/${c.id}/current`)).body.held_usd, 0);
    assert.equal((await admin.request('POST', '/admin/scheduler/start')).status, 200);
    const bad = await api.request<{ error: { code: string; message: string } }>('POST', '/api/queue/enqueue', { template: 'no-such', input: {} });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'VALIDATION_ERROR');
    const anon = await new Client(mf_url).request<{ error: { code: string } }>('GET', '/api/executions');
    assert.deepEqual([anon.status, anon.body.error.code], [401, 'UNAUTHORIZED']);
  });

  it(`${TOTAL} requests from two clients all complete; costs add up; holds are released`, async () => {
    const callers = clients.map((c) => as(c.key));
    const submitted = new Map<string, string>();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < TOTAL) {
        const i = next++;
        const who = i % 2;
        const r = await (callers[who] as Client).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', urgency: i % 3 ? 'normal' : 'high', input: { text: text(i, 2 + (i % 4)), sentences: 2 } });
        assert.equal(r.status, 202, JSON.stringify(r.body));
        submitted.set(r.body.request_id, (clients[who] as { id: string }).id);
      }
    }));
    await until(async () => {
      const s = await admin.request<{ requests: Record<string, number> }>('GET', '/status');
      return (s.body.requests.COMPLETED ?? 0) + (s.body.requests.FAILED ?? 0) >= TOTAL + 1;
    }, 180_000, 'all requests to finish');
    for (const [i, c] of clients.entries()) {
      const api = callers[i] as Client;
      const r = await api.request<{ requests: { cost_usd: number; status: string }[] }>('GET', '/api/executions?limit=1000');
      const mine = r.body.requests;
      const expected = [...submitted.values()].filter((id) => id === c.id).length + (i === 0 ? 1 : 1);
      assert.equal(mine.length, expected, 'each client sees exactly its own requests');
      const finished = mine.filter((q) => q.status !== 'CANCELLED');
      for (const q of finished) assert.equal(q.status, 'COMPLETED');
      const sumNano = finished.reduce((n, q) => n + Math.round(q.cost_usd * 1e9), 0);
      const u = await api.request<{ spent_usd: number; held_usd: number }>('GET', `/api/usage/${c.id}/current`);
      assert.equal(Math.round(u.body.spent_usd * 1e9), sumNano, 'spent equals the sum of its requests');
      assert.equal(u.body.held_usd, 0, 'no hold left');
    }
  });

  // The per-interval bound (capacity + refill over every interval) is checked where the bucket's own clock is
  // known: the Durable Object limiter's contract, inside workerd (test/cf/limiter.workerd.ts, RATE). The audit here
  // stamps a claim with its scheduling pass's time while the take reaches the bucket a round trip later, so only
  // whole-run totals can be checked from it, between two readings of this process's clock around the run.
  it('the token bucket never admitted more than its capacity plus what refilled during the run', async () => {
    const entries: { kind: string; to: string | null; data: Record<string, unknown> | null }[] = [];
    let cursor = 0;
    for (;;) {
      const r = await admin.request<{ entries: typeof entries; next_after: number }>('GET', `/admin/audit?after=${cursor}&limit=10000`);
      entries.push(...r.body.entries);
      if (r.body.entries.length < 10000) break;
      cursor = r.body.next_after;
    }
    let reserved = 0;
    let returned = 0;
    let claims = 0;
    for (const e of entries) {
      if (e.kind !== 'transition' || !e.data) continue;
      const took = (e.data.reserved as Record<string, number> | undefined)?.['test-llm'];
      if (e.to === 'PREPARING' && took !== undefined) {
        reserved += took;
        claims++;
      }
      returned += (e.data.returned as Record<string, number> | undefined)?.['test-llm'] ?? 0;
    }
    assert.ok(claims >= TOTAL, `claims of the token bucket: ${claims}`);
    const elapsedS = (performance.now() - startedAt) / 1000;
    const bound = CAPACITY + REFILL * elapsedS;
    assert.ok(reserved - returned <= bound, `admitted ${reserved - returned} tokens net, more than ${bound.toFixed(0)} (capacity + ${REFILL}/s × ${elapsedS.toFixed(2)} s)`);
    // And the run pressed on the bucket: what the requests used was a good share of what it could give.
    assert.ok(reserved - returned > 0.2 * bound, `the run used only ${reserved - returned} of ${bound.toFixed(0)}: the bound proves little`);
  });
});
