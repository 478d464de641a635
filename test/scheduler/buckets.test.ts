/**
 * The scheduler's door to the limiter (src/scheduler/buckets.ts), on the
 * real limiters: what a pass relies on between a take and its answer, and
 * what happens to takes, settles and releases while the limiter cannot be
 * reached.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { isUnavailable } from '../../src/core/errors.ts';
import { SHARED_ONLY, type LimitedResource, type Limiter } from '../../src/limiter/limiter.ts';
import { LocalLimiter, memoryLevels } from '../../src/limiter/local-limiter.ts';
import { memoryEpochRecord } from '../../src/limiter/redis/epoch.ts';
import { RedisLimiter } from '../../src/limiter/redis/redis-limiter.ts';
import { Buckets, IN_FLIGHT_RECHECK_MS, UNAVAILABLE_BACKOFF_MS } from '../../src/scheduler/buckets.ts';
import { deleteKeys, randomPrefix } from '../helpers/limiter-backends.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';

const RESOURCES: readonly LimitedResource[] = [{ name: 'r', capacity: 10, refillPerS: 0.001 }];
const TTL = 60_000;

function buckets(limiter: Limiter): { b: Buckets; errors: unknown[] } {
  const errors: unknown[] = [];
  return { b: new Buckets(limiter, (err) => errors.push(err)), errors };
}

describe('Buckets on a LocalLimiter', () => {
  it('a take changes the levels at the call, so the rest of a pass sees it before the promise settles', async () => {
    const { b } = buckets(await LocalLimiter.open({ resources: RESOURCES, clock: new FakeClock(Date.now()), levels: memoryLevels() }));
    assert.equal(b.check({ r: 6 }, SHARED_ONLY).ok, true);
    const first = b.take('g1', { r: 6 }, SHARED_ONLY, TTL);
    const c = b.check({ r: 6 }, SHARED_ONLY);
    assert.equal(c.ok, false, 'the same last units do not pass check twice');
    assert.equal(c.ok ? 0 : c.waitMs > IN_FLIGHT_RECHECK_MS, true, 'a real wait (refill), not a recheck for takes in flight');
    assert.equal(b.check({ r: 4 }, SHARED_ONLY).ok, true, 'what is left does');
    assert.equal((await first).ok, true);
    await b.settle('g1', { r: 1 });
    assert.ok(Math.abs((b.levels().get('r')?.level ?? 0) - 9) < 0.01, 'five of six came back');
  });
});

const redisUrl = process.env.ALLOT_TEST_REDIS_URL;

describe('Buckets on a RedisLimiter', { skip: redisUrl ? false : 'ALLOT_TEST_REDIS_URL is not set' }, () => {
  const prefixes: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.toReversed()) await c();
    for (const p of prefixes) await deleteKeys(redisUrl as string, p);
  });
  const url = new URL(redisUrl ?? 'redis://127.0.0.1:6379');

  async function open(port = Number(url.port || 6379)): Promise<RedisLimiter> {
    const prefix = randomPrefix();
    prefixes.push(prefix);
    const l = await RedisLimiter.open({ url: `redis://${url.hostname}:${port}`, prefix, resources: RESOURCES, epochs: memoryEpochRecord() });
    cleanups.push(() => l.close());
    return l;
  }

  it('takes in flight count as taken in check: one pass does not send two takes for the same last units', async () => {
    const { b } = buckets(await open());
    await b.maintain();
    const first = b.take('g1', { r: 6 }, SHARED_ONLY, TTL);
    const c = b.check({ r: 6 }, SHARED_ONLY);
    assert.equal(c.ok, false, 'refused while the first take is on its way');
    assert.deepEqual(c.ok ? null : [c.resource, c.needed, c.waitMs <= IN_FLIGHT_RECHECK_MS], ['r', 6, true], 'for a moment only');
    assert.equal(b.check({ r: 4 }, SHARED_ONLY).ok, true, 'what is left still fits');
    assert.equal((await first).ok, true);
    const answered = b.check({ r: 6 }, SHARED_ONLY);
    assert.equal(answered.ok, false, 'answered: the snapshot has it');
    assert.ok(!answered.ok && answered.waitMs > 1000, 'and the wait is the refill’s');
  });

  it('Redis unreachable: a take rejects and starts the back-off; settles and releases are kept and retried once it answers', async () => {
    const proxy = await tcpProxy(url.hostname, Number(url.port || 6379));
    cleanups.push(() => proxy.close());
    const { b, errors } = buckets(await open(proxy.port));
    assert.equal((await b.take('used', { r: 4 }, SHARED_ONLY, TTL)).ok, true);
    assert.equal((await b.take('unused', { r: 3 }, SHARED_ONLY, TTL)).ok, true);
    assert.ok(Math.abs((b.levels().get('r')?.level ?? 0) - 3) < 0.01);
    assert.equal(b.unavailableMs(), 0);

    await proxy.down();
    await assert.rejects(b.take('g3', { r: 1 }, SHARED_ONLY, TTL), (err: unknown) => isUnavailable(err));
    const backoff = b.unavailableMs();
    assert.ok(backoff > 0 && backoff <= UNAVAILABLE_BACKOFF_MS, `back-off ${backoff} ms`);
    await b.settle('used', { r: 2 }); // Resolves: kept for later, not thrown at the scheduler.
    await b.release('unused');
    assert.equal(b.unended, 2);
    assert.equal(await b.maintain(), false, 'still unreachable: kept');
    assert.equal(b.unended, 2);

    await proxy.up();
    const until = Date.now() + 10_000;
    while (b.unended > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      await b.maintain();
    }
    assert.equal(b.unended, 0, 'retried once Redis answered');
    assert.ok(Math.abs((b.levels().get('r')?.level ?? 0) - 8) < 0.01, `2 of 4 and all 3 came back: ${b.levels().get('r')?.level}`);
    assert.deepEqual(errors, []);
  });
});
