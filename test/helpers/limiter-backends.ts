/**
 * The Limiter implementations the contract suite (test/contract/limiter.test.ts)
 * runs against. Each test gets a fresh state: a fresh fake clock and levels
 * port (local), a fresh random key prefix and epoch record (Redis).
 *
 * Environment:
 * - `ALLOT_TEST_REDIS_URL`: Redis for the `redis` backend (without it, it is skipped with that reason).
 * - `ALLOT_TEST_LIMITERS`: comma list of backends to run (default: all).
 * The Durable Object limiter runs the same contract inside workerd (test/cf/limiter-durable.test.ts).
 * - `ALLOT_KEEP_TEST_KEYS`: leave a test's Redis keys in place and log their prefix.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeClock } from '../../src/core/clock.ts';
import type { LimitedResource, Limiter } from '../../src/limiter/limiter.ts';
import type { LimiterHarness } from '../contract/limiter-harness.ts';
import { LocalLimiter, memoryLevels } from '../../src/limiter/local-limiter.ts';
import { memoryEpochRecord } from '../../src/limiter/redis/epoch.ts';
import { RedisLimiter, type RedisLimiterOptions } from '../../src/limiter/redis/redis-limiter.ts';


export type { LimiterHarness } from '../contract/limiter-harness.ts';

export interface LimiterBackend {
  readonly name: 'local' | 'redis';
  /** true, or why the backend cannot run here (reported as skipped). */
  available(): true | string;
  create(): Promise<LimiterHarness>;
}

const local: LimiterBackend = {
  name: 'local',
  available: () => true,
  async create() {
    // A fake clock from the real time: no test depends on today's date, and none on a fixed one either.
    const clock = new FakeClock(Date.now());
    const levels = memoryLevels();
    const open: Limiter[] = [];
    return {
      fakeClock: clock,
      async open(resources) {
        const l = await LocalLimiter.open({ resources, clock, levels });
        open.push(l);
        return l;
      },
      async elapse(ms) {
        clock.advance(ms);
      },
      async cleanup() {
        for (const l of open) await l.close();
      },
    };
  },
};

export function redisUrl(): string | undefined {
  return process.env.ALLOT_TEST_REDIS_URL || undefined;
}

export function randomPrefix(): string {
  return `allot-test-${randomBytes(6).toString('hex')}:`;
}

/** Delete every key under a prefix (only this test's keys: others run tests on the same Redis). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) n += await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
  return n;
}

export interface RedisHarness extends LimiterHarness {
  readonly url: string;
  readonly prefix: string;
  readonly epochs: ReturnType<typeof memoryEpochRecord>;
  /** Open with other options (another URL, a data-loss callback, another epoch record). */
  openWith(resources: readonly LimitedResource[], o?: Partial<RedisLimiterOptions>): Promise<RedisLimiter>;
}

export async function redisHarness(): Promise<RedisHarness> {
  const url = redisUrl() as string;
  const prefix = randomPrefix();
  const epochs = memoryEpochRecord();
  const open: Limiter[] = [];
  const openWith = async (resources: readonly LimitedResource[], o: Partial<RedisLimiterOptions> = {}): Promise<RedisLimiter> => {
    const l = await RedisLimiter.open({ url, prefix, epochs, resources, ...o });
    open.push(l);
    return l;
  };
  return {
    url,
    prefix,
    epochs,
    fakeClock: undefined,
    openWith,
    open: (resources) => openWith(resources),
    elapse: (ms) => sleep(ms),
    async cleanup() {
      for (const l of open) await l.close();
      if (process.env.ALLOT_KEEP_TEST_KEYS) console.log(`# kept Redis keys under ${prefix}`);
      else await deleteKeys(url, prefix);
    },
  };
}

const redis: LimiterBackend = {
  name: 'redis',
  available: () => (redisUrl() ? true : 'ALLOT_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)'),
  create: redisHarness,
};

export const LIMITER_BACKENDS: readonly LimiterBackend[] = [local, redis].filter((b) => {
  const only = process.env.ALLOT_TEST_LIMITERS;
  return !only || only.split(',').map((s) => s.trim()).includes(b.name);
});

/** For `describe(name, { skip })`: false to run, or the reason it cannot. */
export function skipReason(b: LimiterBackend): false | string {
  const a = b.available();
  return a === true ? false : a;
}
