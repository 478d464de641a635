/**
 * Allot on the shared limiter (the scale-out mode: buckets in Redis). Runs
 * on the postgres backend only (ALLOT_TEST_BACKEND=postgres), with Redis
 * behind a TCP proxy so that it can be cut:
 * - units another instance holds: a request waits for them (PENDING, no
 *   attempt used) and runs once they are given back;
 * - a worker's own reservations are grants in Redis;
 * - Redis unreachable: nothing is dispatched and nothing fails (requests
 *   stay queued, a worker's reserve answers 503); once Redis is back, the
 *   queue runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { SHARED_ONLY } from '../../src/limiter/limiter.ts';
import { settingsEpochRecord } from '../../src/limiter/open.ts';
import { RedisLimiter } from '../../src/limiter/redis/redis-limiter.ts';
import { onlyOn } from '../helpers/app-backend.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const TOKEN = 'mailer-token-0123456789';
const RESOURCES = {
  // Refill so slow that nothing comes back by itself during a test.
  'llm.s': { kind: 'tokens', model: 's', unit: 'token', capacity: 1000, refill_per_s: 0.01, cost_per_unit_usd: 0 },
  mail: { kind: 'count', unit: 'email', capacity: 10, refill_per_s: 0.001, cost_per_unit_usd: 0 },
};

describe('Allot on the shared limiter (Redis)', { skip: onlyOn('postgres') }, () => {
  let proxy: TcpProxy;
  let worker: HttpWorkerServer;
  let h: Harness;
  /** Another instance on the same buckets. */
  let other: RedisLimiter;

  before(async () => {
    const redis = new URL(process.env.ALLOT_TEST_REDIS_URL as string);
    proxy = await tcpProxy(redis.hostname, Number(redis.port || 6379));
    worker = await startSpender();
    h = await startHarness(
      {
        resources: RESOURCES,
        workers: { spender: { transport: 'http', url: worker.url, max_concurrency: 50 }, mailer: { transport: 'http', url: 'http://127.0.0.1:9/', token: TOKEN } },
        templates: { job: { worker: 'spender', model: 's', max_tokens: 400 } },
      },
      { env: { ALLOT_REDIS_URL: `redis://127.0.0.1:${proxy.port}` } },
    );
    const so = h.config.scaleOut;
    assert.ok(so, 'the postgres backend runs Allot scaled out');
    other = await RedisLimiter.open({
      url: process.env.ALLOT_TEST_REDIS_URL as string, prefix: `${so.redisPrefix}:`, epochs: settingsEpochRecord(h.store),
      resources: Object.entries(RESOURCES).map(([name, r]) => ({ name, capacity: r.capacity, refillPerS: r.refill_per_s })),
    });
  });

  after(async () => {
    await other?.close();
    await h?.close();
    await worker?.close();
    await proxy?.close();
  });

  const status = async (id: string, key: string): Promise<{ status: string; attempts: number }> => (await h.call('GET', `/api/execution/${id}`, { key })).body;

  test('a request whose units another instance holds waits for them, then runs', async () => {
    const c = await h.createClient('standard');
    assert.equal((await other.take('elsewhere', { 'llm.s': 900 }, SHARED_ONLY, 60_000)).ok, true);
    const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'job', input: {} } });
    assert.equal(r.status, 202, r.text);
    const id = r.body.request_id as string;
    await new Promise((res) => setTimeout(res, 1500)); // A reaper round: Allot has read the levels the other instance left.
    assert.deepEqual(await status(id, c.key).then((x) => [x.status, x.attempts]), ['PENDING', 0], 'waits: no attempt used, nothing failed');
    assert.equal(await other.release('elsewhere'), true);
    const done = await h.waitTerminal(id, c.key, 10_000);
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 1);
  });

  test("a worker's reservations are grants in Redis, seen by every instance", async () => {
    const level = async (): Promise<number> => {
      await other.refresh();
      return Math.round(other.levels().get('mail')?.level ?? NaN);
    };
    const start = await level();
    const r = await h.call('POST', '/internal/reserve', { key: TOKEN, json: { resource: 'mail', amount: 4, ttl_ms: 60_000 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await level(), start - 4);
    const c = await h.call('POST', '/internal/consume', { key: TOKEN, json: { reservation_id: r.body.reservation_id, amount: 3 } });
    assert.equal(c.status, 200, c.text);
    assert.equal(await level(), start - 3, 'the unused unit went back');
    const r2 = await h.call('POST', '/internal/reserve', { key: TOKEN, json: { resource: 'mail', amount: 2 } });
    assert.equal(await level(), start - 5);
    assert.equal(await other.release(r2.body.reservation_id as string), true, 'the reservation is a grant under its own id');
    assert.equal(await level(), start - 3);
  });

  test('Redis unreachable: requests stay queued without using an attempt, a worker cannot reserve; back, the queue runs', async () => {
    const c = await h.createClient('standard');
    await proxy.down();
    try {
      const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'job', input: {} } });
      assert.equal(r.status, 202, r.text);
      const id = r.body.request_id as string;
      await new Promise((res) => setTimeout(res, 2500));
      assert.deepEqual(await status(id, c.key).then((x) => [x.status, x.attempts]), ['PENDING', 0], 'never dispatched without a granted take, never failed for it');
      const refused = await h.call('POST', '/internal/reserve', { key: TOKEN, json: { resource: 'mail', amount: 1 } });
      assertEnvelope(refused, 503, 'QUEUE_BACKUP');
      assert.equal((refused.body.error as { details: { unavailable: string } }).details.unavailable, 'redis');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After');
      await proxy.up();
      const done = await h.waitTerminal(id, c.key, 15_000);
      assert.equal(done.status, 'COMPLETED');
      assert.equal(done.attempts, 1);
    } finally {
      await proxy.up().catch(() => {});
    }
  });
});
