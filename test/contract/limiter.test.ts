/**
 * The Limiter contract (test/contract/limiter-contract.ts), run against the
 * Node backends in test/helpers/limiter-backends.ts: local always, Redis when
 * ALLOT_TEST_REDIS_URL is set (otherwise reported as skipped with the
 * reason), and what only one of them can show. Each test has its own state
 * (a fresh fake clock, or a fresh key prefix).
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { FakeClock } from '../../src/core/clock.ts';
import { AllotError, isUnavailable } from '../../src/core/errors.ts';
import { LocalLimiter, memoryLevels } from '../../src/limiter/local-limiter.ts';
import { memoryEpochRecord } from '../../src/limiter/redis/epoch.ts';
import { RedisLimiter } from '../../src/limiter/redis/redis-limiter.ts';
import { LIMITER_BACKENDS, deleteKeys, redisHarness, skipReason, type LimiterBackend, type LimiterHarness, type RedisHarness } from '../helpers/limiter-backends.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';
import { as, level, limiterContract, res, sharedLimiterContract, TTL } from './limiter-contract.ts';

// The Durable Object limiter runs the same contract inside workerd: test/cf/limiter-durable.test.ts.
for (const backend of LIMITER_BACKENDS) limiterContract(backend.name, skipReason(backend), () => backend.create());
const redisBackend = LIMITER_BACKENDS.find((b) => b.name === 'redis');
sharedLimiterContract('redis', redisBackend ? skipReason(redisBackend) : 'ALLOT_TEST_LIMITERS leaves out redis', () => redisHarness());

/** A seeded generator (mulberry32), so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Net units admitted at each time; checks every interval against capacity + refill × elapsed. */
function assertRate(events: readonly { at: number; net: number }[], capacity: number, refillPerS: number, what: string): void {
  for (let i = 0; i < events.length; i++) {
    let net = 0;
    for (let j = i; j < events.length; j++) {
      net += (events[j] as { net: number }).net;
      const elapsedS = ((events[j] as { at: number }).at - (events[i] as { at: number }).at) / 1000;
      assert.ok(net <= capacity + refillPerS * elapsedS + 1e-6, `${what}: ${net} admitted over ${elapsedS} s`);
    }
  }
}

const local = LIMITER_BACKENDS.find((b) => b.name === 'local');

describe('limiter: local only (a fake clock)', { skip: local ? false : 'ALLOT_TEST_LIMITERS leaves out local' }, () => {
  let h: LimiterHarness;
  beforeEach(async () => {
    h = await (local as LimiterBackend).create();
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('RATE: over every interval, net admitted ≤ capacity + refill × elapsed, with the clock going backwards too', async () => {
    const CAP = 1000;
    const REFILL = 100;
    const clock = h.fakeClock as FakeClock;
    for (let seed = 1; seed <= 25; seed++) {
      const rnd = random(seed);
      const l = await h.open([res('r', CAP, REFILL, [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.25 }, { name: 'mine', kind: 'dedicated', client: 'c0', share: 0.15 }])]);
      let high = clock.now();
      const events: { at: number; net: number }[] = [];
      const open: { id: string; amount: number }[] = [];
      let admitted = 0;
      for (let i = 0; i < 300; i++) {
        clock.advance(Math.round(rnd() * 1300) - 500); // -500..800 ms: a third of the steps go back
        high = Math.max(high, clock.now()); // the limiter never runs behind the latest time it saw
        const op = rnd();
        if (op < 0.5) {
          const client = Math.floor(rnd() * 4);
          const ctx = as(`c${client}`, client % 2 === 0 ? 'gold' : 'plain', rnd() < 0.3 ? ['gold'] : []);
          const amount = 1 + Math.floor(rnd() * 400);
          const t = await l.take(`s${seed}-${i}`, { r: amount }, ctx, 2000);
          if (t.ok) {
            open.push({ id: `s${seed}-${i}`, amount });
            events.push({ at: high, net: amount });
            admitted++;
          }
        } else if (op < 0.75 && open.length > 0) {
          const g = open.splice(Math.floor(rnd() * open.length), 1)[0] as { id: string; amount: number };
          const used = Math.round(g.amount * rnd());
          if (await l.settle(g.id, { r: used })) events.push({ at: high, net: used - g.amount });
        } else if (op < 0.9 && open.length > 0) {
          const g = open.splice(Math.floor(rnd() * open.length), 1)[0] as { id: string; amount: number };
          if (await l.release(g.id)) events.push({ at: high, net: -g.amount });
        } else {
          await l.expire(); // forgotten grants keep their units: no event
        }
      }
      assert.ok(admitted > 20, `seed ${seed}: only ${admitted} takes admitted, the sequence tests little`);
      assertRate(events, CAP, REFILL, `seed ${seed}`);
      const lv = l.levels().get('r');
      assert.ok(lv && lv.level <= CAP + 1e-9, `seed ${seed}: level ${lv?.level} above capacity`);
      await l.close();
    }
  });

  it('a clock stepping back refills nothing until it is past the latest time used; grants expire by that same time', async () => {
    const clock = h.fakeClock as FakeClock;
    const l = await h.open([res('r', 10, 1)]);
    const t0 = clock.now();
    assert.equal((await l.take('g1', { r: 10 }, as('c1'), 1000)).ok, true);
    clock.set(t0 - 10_000);
    assert.equal(level(l, 'r'), 0);
    clock.advance(9_500); // still 500 ms behind t0
    assert.equal(level(l, 'r'), 0, 'no refill for time already credited');
    assert.equal(await l.expire(), 0, 'the grant expires at t0 + 1 s by the latest time seen, not by a clock gone back');
    assert.equal((await l.take('g2', { r: 0 }, as('c1'), 1000)).ok, true);
    clock.advance(1_000); // t0 + 500: 1 s after g2 was taken by the clock, but the limiter took it at t0
    assert.equal(await l.expire(), 0, 'g2 expires at t0 + 1 s: by the time the buckets count, not by the clock gone back');
    clock.set(t0 + 1_000);
    assert.equal(level(l, 'r'), 1, 'one second of refill since t0, not eleven');
    assert.equal(await l.expire(), 2);
  });

  it('writes the levels each operation changed to its port, and reset and configure with an audit note', async () => {
    const clock = h.fakeClock as FakeClock;
    const port = memoryLevels();
    const l = await LocalLimiter.open({ resources: [res('r', 10)], clock, levels: port });
    assert.equal(port.saved.size, 0, 'opening writes nothing');
    await l.take('g1', { r: 4 }, as('c1'), TTL);
    assert.deepEqual(port.saved.get('r'), { level: 6, updatedAt: clock.now() });
    clock.advance(1000);
    await l.settle('g1', { r: 1 });
    assert.deepEqual(port.saved.get('r'), { level: 9, updatedAt: clock.now() });
    assert.equal(port.audits.length, 0, 'grant operations carry no audit note');
    await l.reset('r', 2);
    await l.configure([res('r', 10), res('s', 3)]);
    assert.deepEqual(port.audits.map((a) => [a.action, a.data]), [['reset', { resource: 'r', level: 2, was: 9 }], ['configure', { resources: ['r', 's'] }]]);
    assert.deepEqual(port.saved.get('s'), { level: 3, updatedAt: clock.now() });
    const again = await LocalLimiter.open({ resources: [res('r', 10), res('s', 3)], clock, levels: port });
    assert.deepEqual(again.levels(), l.levels());
    await l.close();
    await again.close();
  });
});

const redis = LIMITER_BACKENDS.find((b) => b.name === 'redis');

/** The Redis server's clock, ms. */
async function serverTime(r: Redis): Promise<number> {
  const [s, us] = await r.time();
  return Number(s) * 1000 + Number(us) / 1000;
}

describe('limiter: redis only', { skip: redis ? skipReason(redis) : 'ALLOT_TEST_LIMITERS leaves out redis' }, () => {
  let h: RedisHarness;
  const extra: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    h = await redisHarness();
  });
  afterEach(async () => {
    for (const f of extra.splice(0)) await f();
    await h.cleanup();
  });

  it('RATE: three connections hammering take for 2 s are admitted at most capacity + refill × elapsed on the server clock', async (ctx) => {
    const CAP = 20;
    const REFILL = 10;
    const r = [res('r', CAP, REFILL)];
    const limiters = [await h.open(r), await h.open(r), await h.open(r)];
    const clock = new Redis(h.url);
    extra.push(async () => void (await clock.quit()));
    const used = [1, 1, 0.5, 0];
    let net = 0;
    let takes = 0;
    let refusals = 0;
    const start = await serverTime(clock);
    const until = performance.now() + 2000;
    // Two loops per connection, so that commands from one connection also interleave.
    await Promise.all(limiters.flatMap((l, c) => [0, 1].map(async (k) => {
      for (let i = 0; performance.now() < until; i++) {
        const id = `c${c}-${k}-${i}`;
        const t = await l.take(id, { r: 1 }, as(`client${c}`), TTL);
        if (!t.ok) {
          refusals++;
          continue;
        }
        takes++;
        const u = used[i % used.length] as number;
        assert.equal(await l.settle(id, { r: u }), true);
        net += u;
      }
    })));
    const elapsedS = ((await serverTime(clock)) - start) / 1000;
    const bound = CAP + REFILL * elapsedS;
    ctx.diagnostic(`admitted ${net} (bound ${bound.toFixed(3)} over ${elapsedS.toFixed(3)} s on the server clock); ${takes} takes, ${refusals} refusals`);
    assert.ok(net <= bound + 1e-6, `admitted ${net} > ${bound} (capacity ${CAP} + ${REFILL}/s × ${elapsedS} s)`);
    // And the limiter is not merely refusing everything: nearly all that refilled was granted.
    assert.ok(net >= bound - 5, `admitted only ${net} of ${bound}`);
    assert.ok(refusals > takes, `the bucket was saturated (${takes} takes, ${refusals} refusals)`);
  });

  it('keeps every key under the prefix, in one hash tag', async () => {
    const l = await h.open([res('r', 10)]);
    await l.take('g1', { r: 1 }, as('c1'), TTL);
    const r = new Redis(h.url);
    extra.push(async () => void (await r.quit()));
    const keys = (await r.keys(`${h.prefix}*`)).toSorted();
    const root = `${h.prefix}{limiter}:`;
    assert.deepEqual(keys, [`${root}clock`, `${root}epoch`, `${root}grant:g1`, `${root}grants`, `${root}pool:r`]);
  });

  it('Redis losing its data rebuilds buckets empty, not full; only the very first start is full', async () => {
    const r = [res('r', 10, 0.5)];
    let losses = 0;
    const onDataLoss = (): void => {
      losses++;
    };
    const a = await h.openWith(r, { onDataLoss });
    assert.ok(level(a, 'r') >= 10 - 1e-9, 'first start: full');
    assert.notEqual(h.epochs.value, null, 'the deployment recorded the epoch it saw');
    assert.equal((await a.take('g1', { r: 4 }, as('c1'), TTL)).ok, true);

    assert.ok((await deleteKeys(h.url, h.prefix)) >= 4);
    const t = await a.take('g2', { r: 3 }, as('c1'), TTL);
    assert.equal(t.ok, false, 'no burst after the loss');
    if (!t.ok) assert.ok(t.waitMs > 5000 && t.waitMs <= 6000, `3 units at 0.5/s from empty: ${t.waitMs} ms`);
    assert.equal(losses, 1, 'the loss was reported');
    assert.equal(await a.settle('g1', { r: 0 }), false, 'grants went with the data: nothing comes back');
    await a.refresh();
    assert.ok(level(a, 'r') < 0.5, `level ${level(a, 'r')}`);

    const b = await h.openWith(r, { onDataLoss });
    assert.ok(level(b, 'r') < 0.5, 'an instance started after the loss finds it empty too');

    await deleteKeys(h.url, h.prefix);
    const c = await h.openWith(r, { onDataLoss });
    assert.ok(level(c, 'r') < 0.5, 'started on lost data (nobody noticed yet): empty');
    assert.equal(losses, 2);

    const fresh = await redisHarness();
    extra.push(() => fresh.cleanup());
    const d = await fresh.openWith(r, { onDataLoss });
    assert.ok(level(d, 'r') >= 10 - 1e-9, 'a deployment with no record anywhere starts full');
    assert.equal(losses, 2);
  });

  it('Redis unreachable: opening rejects at once as unavailable (503 QUEUE_BACKUP), naming the address', async () => {
    const t0 = performance.now();
    await assert.rejects(RedisLimiter.open({ url: 'redis://127.0.0.1:1', epochs: memoryEpochRecord(), resources: [res('r', 10)] }), (err: AllotError) => {
      assert.ok(isUnavailable(err), err.message);
      assert.equal(err.status, 503);
      assert.match(err.message, /Redis at 127\.0\.0\.1:1 cannot be reached \(.*ECONNREFUSED.*\): the limiter grants nothing/);
      return true;
    });
    assert.ok(performance.now() - t0 < 1500, `took ${performance.now() - t0} ms`);
  });

  it('Redis lost while running: operations reject fast and grant nothing; they work again once it is back', async () => {
    const target = new URL(h.url);
    const proxy = await tcpProxy(target.hostname, Number(target.port || 6379));
    extra.push(() => proxy.close());
    const r = [res('r', 10)];
    // A long command timeout: what must make operations fail fast is that nothing waits for a reconnect.
    const viaProxy = await h.openWith(r, { url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 10_000 });
    const direct = await h.open(r);
    assert.equal((await viaProxy.take('g1', { r: 2 }, as('c1'), TTL)).ok, true);

    await proxy.down();
    const t0 = performance.now();
    await assert.rejects(viaProxy.take('g2', { r: 3 }, as('c1'), TTL), isUnavailable);
    await assert.rejects(viaProxy.settle('g1', { r: 2 }), isUnavailable);
    await assert.rejects(viaProxy.expire(), isUnavailable);
    assert.ok(performance.now() - t0 < 500, `rejected after ${performance.now() - t0} ms`);
    await direct.refresh();
    assert.equal(level(direct, 'r'), 8, 'only g1 was taken');

    await proxy.up();
    const deadline = performance.now() + 10_000;
    for (;;) {
      const t = await viaProxy.take('g3', { r: 3 }, as('c1'), TTL).catch((err: AllotError) => err);
      if (!(t instanceof AllotError)) {
        assert.deepEqual(t, { ok: true, taken: { r: 3 } });
        break;
      }
      assert.ok(isUnavailable(t), t.message);
      assert.ok(performance.now() < deadline, 'reconnected within 10 s');
      await sleep(100);
    }
    assert.equal(await viaProxy.settle('g1', { r: 2 }), true);
  });

  it('Redis that stops answering: commands time out as unavailable', async () => {
    const target = new URL(h.url);
    const proxy = await tcpProxy(target.hostname, Number(target.port || 6379));
    extra.push(() => proxy.close());
    const r = [res('r', 10)];
    const l = await h.openWith(r, { url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 300 });
    proxy.blackhole();
    const t0 = performance.now();
    await assert.rejects(l.take('g1', { r: 2 }, as('c1'), TTL), (err: AllotError) => isUnavailable(err) && /timed out/i.test(err.message));
    const took = performance.now() - t0;
    assert.ok(took >= 250 && took < 1500, `timed out after ${took} ms`);
    const direct = await h.open(r);
    assert.equal(level(direct, 'r'), 10, 'nothing reached Redis, nothing was taken');
  });
});
