/**
 * Result caching (SPEC section 5): an identical request within the TTL is
 * answered from the cache at zero cost without dispatch; identical requests
 * in flight at once run once; `optimize: false` and other parameters miss;
 * an admin can purge a template's cache.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

let calls = 0;
let release: (() => void) | undefined;
let worker: HttpWorkerServer;
let h: Harness;
// Moved by hand (the TTL test); starts from the real time, so nothing depends on the date.
const clock = new FakeClock(Date.now());

before(async () => {
  worker = await serveHttp(
    defineWorker({
      name: 'echo',
      dedupe: false,
      handler: async (job, ctx) => {
        calls++;
        if ((job.input as { hold?: boolean }).hold) await new Promise<void>((r) => (release = r));
        ctx.addUsage({ inputTokens: 10, outputTokens: 20 });
        return { echo: (job.input as { text?: string }).text ?? null, n: calls };
      },
    }),
  );
  h = await startHarness(
    {
      resources: { 'llm.c': { kind: 'tokens', model: 'c', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.001 } },
      workers: { echo: { transport: 'http', url: worker.url } },
      templates: { cached: { worker: 'echo', model: 'c', max_tokens: 50, cache_ttl_s: 3600 }, plain: { worker: 'echo', model: 'c', max_tokens: 50 } },
    },
    { clock },
  );
});

after(async () => {
  release?.();
  await h?.close();
  await worker?.close();
});

const run = async (key: string, json: Record<string, unknown>) => {
  const r = await h.call('POST', '/api/execute', { key, json: { template: 'cached', ...json } });
  assert.equal(r.status, 200, r.text);
  return r.body;
};

test('a repeat within the TTL is answered from the cache, at no cost, without the worker', async () => {
  const c = await h.createClient('standard');
  const calls0 = calls;
  const first = await run(c.key, { input: { text: 'Hello   world ' } });
  assert.equal(first.status, 'COMPLETED');
  assert.deepEqual(first.cache, { hit: false, source_request_id: null });
  assert.equal(first.cost_usd, 0.03, '30 tokens at $0.001');
  const second = await run(c.key, { input: { text: 'Hello world' } }); // same after normalizing white space
  assert.equal(second.status, 'COMPLETED');
  assert.deepEqual(second.cache, { hit: true, source_request_id: first.request_id });
  assert.deepEqual(second.output, first.output);
  assert.equal(second.cost_usd, 0);
  assert.equal(calls, calls0 + 1, 'the worker ran once');
  const usage = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
  assert.equal(usage.body.spent_usd, 0.03);
  assert.equal(usage.body.held_usd, 0);
  const stats = await h.call('GET', `/api/optimize/stats/${c.id}`, { key: c.key });
  assert.equal(stats.status, 200, stats.text);
  assert.deepEqual(stats.body.strategies.cache, { requests: 1, saved_usd: 0.03, calls_saved: 1, bytes_saved: 0, by_template: { cached: 0.03 } });
  assert.equal(stats.body.total_saved_usd, 0.03);

  // Other parameters, optimize:false, or a template without caching: the worker runs.
  assert.equal((await run(c.key, { input: { text: 'Hello world' }, max_tokens: 40 })).cache.hit, false);
  const opted = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'cached', input: { text: 'Hello world' }, optimize: false } });
  assert.equal(opted.body.cache, null);
  assert.equal(opted.body.cost_usd, 0.03);
  const plain = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'plain', input: { text: 'Hello world' } } });
  assert.equal(plain.body.cache, null);
  assert.equal(calls, calls0 + 4);
});

test('the cache expires after cache_ttl_s, and an admin can purge it', async () => {
  const c = await h.createClient('standard');
  const a = await run(c.key, { input: { text: 'expiry' } });
  clock.advance(3_599_000);
  assert.equal((await run(c.key, { input: { text: 'expiry' } })).cache.hit, true);
  clock.advance(1_000);
  const fresh = await run(c.key, { input: { text: 'expiry' } });
  assert.equal(fresh.cache.hit, false, 'one hour later it runs again');
  assert.notEqual(fresh.request_id, a.request_id);
  assert.equal((await run(c.key, { input: { text: 'expiry' } })).cache.hit, true);
  const purge = await h.call('DELETE', '/admin/templates/cached/cache', { key: h.adminKey });
  assert.equal(purge.status, 200, purge.text);
  assert.ok(purge.body.removed >= 1);
  assert.equal((await run(c.key, { input: { text: 'expiry' } })).cache.hit, false);
});

test('identical requests in flight at once run once; the others wait for the first', async () => {
  const c = await h.createClient('standard');
  const calls0 = calls;
  const submit = () => h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'cached', input: { text: 'together', hold: true } } });
  const ids = [(await submit()).body.request_id, (await submit()).body.request_id, (await submit()).body.request_id] as string[];
  const reached = (): boolean => release !== undefined;
  for (let i = 0; i < 100 && !reached(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(release, 'the first reached the worker');
  const waiting = await h.call('GET', `/api/execution/${ids[1]}`, { key: c.key });
  assert.equal(waiting.body.status, 'PENDING', 'the duplicate waits');
  release?.();
  release = undefined; // A later test waits for its own leader to set it.
  const done = await Promise.all(ids.map((id) => h.waitTerminal(id, c.key)));
  assert.deepEqual(done.map((x) => x.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
  assert.equal(calls, calls0 + 1, 'the worker ran once');
  assert.deepEqual(done.map((x) => x.cost_usd), [0.03, 0, 0]);
  assert.equal(done[1].cache.source_request_id, ids[0]);
  assert.deepEqual(done[2].output, done[0].output);
  const usage = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
  assert.equal(usage.body.held_usd, 0, 'the duplicates’ holds were released');
  const stats = await h.call('GET', `/api/optimize/stats/${c.id}`, { key: c.key });
  assert.equal(stats.body.strategies.cache.requests, 2, 'each duplicate saved the leader’s cost');
  assert.equal(stats.body.strategies.cache.saved_usd, 0.06);
});

test('a hit on another client’s result, cached or in flight, never shows that client’s request id', async () => {
  const alice = await h.createClient('standard');
  const bob = await h.createClient('standard');
  const calls0 = calls;
  const mine = await run(alice.key, { input: { text: 'shared question' } });
  const theirs = await run(bob.key, { input: { text: 'shared question' } });
  assert.equal(theirs.cache.hit, true, 'the result is reused across clients');
  assert.equal(theirs.cache.source_request_id, null, 'but the other client’s request id is not shown');
  assert.ok(!JSON.stringify(theirs).includes(mine.request_id), 'nowhere in the answer');
  const again = await run(alice.key, { input: { text: 'shared question' } });
  assert.equal(again.cache.source_request_id, mine.request_id, 'a client sees its own source request');

  // In flight: bob's duplicate waits for alice's leader and is served from it.
  const lead = await h.call('POST', '/api/queue/enqueue', { key: alice.key, json: { template: 'cached', input: { text: 'shared in flight', hold: true } } });
  const reached = (): boolean => release !== undefined;
  for (let i = 0; i < 100 && !reached(); i++) await new Promise((r) => setTimeout(r, 5));
  const follower = await h.call('POST', '/api/queue/enqueue', { key: bob.key, json: { template: 'cached', input: { text: 'shared in flight', hold: true } } });
  release?.();
  release = undefined;
  const [a, b] = await Promise.all([h.waitTerminal(lead.body.request_id, alice.key), h.waitTerminal(follower.body.request_id, bob.key)]);
  assert.equal(a.status, 'COMPLETED');
  assert.equal(b.cache.hit, true);
  assert.equal(b.cache.source_request_id, null);
  assert.ok(!JSON.stringify(b).includes(lead.body.request_id));
  assert.equal(calls, calls0 + 2, 'two worker runs for five requests');
  // Nor in bob's list or audit view of his own requests.
  const list = await h.call('GET', '/api/executions', { key: bob.key });
  assert.ok(!list.text.includes(mine.request_id) && !list.text.includes(lead.body.request_id));
});

test('a client can turn caching off for itself; PATCH turns it back on', async () => {
  const c = await h.createClient('standard', { optimizations: { cache: false } });
  const client = await h.call('GET', `/admin/clients/${c.id}`, { key: h.adminKey });
  assert.deepEqual(client.body.client.optimizations, { cache: false, downgrade: true, batching: true, offpeak: true });
  const calls0 = calls;
  await run(c.key, { input: { text: 'no cache for me' } });
  const again = await run(c.key, { input: { text: 'no cache for me' } });
  assert.equal(again.cache, null);
  assert.equal(calls, calls0 + 2, 'both ran on the worker');
  await h.call('PATCH', `/admin/clients/${c.id}`, { key: h.adminKey, json: { optimizations: { cache: true } } });
  await run(c.key, { input: { text: 'cache me' } });
  assert.equal((await run(c.key, { input: { text: 'cache me' } })).cache.hit, true);
});
