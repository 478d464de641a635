/**
 * `node bench/limiter/latency.ts [--n=10000] [--url=redis://127.0.0.1:6379]`:
 * take + settle round-trip latency of each Limiter, one grant at a time
 * (concurrency 1), p50/p99/max in µs. The local limiter writes to an
 * in-memory levels port; the Redis one runs on a random key prefix it
 * deletes afterwards. The resource has reserved pools, so the draw order and
 * the Lua arguments are those of a real split resource.
 */
import { Redis } from 'ioredis';
import { systemClock } from '../../src/core/clock.ts';
import type { LimitedResource, Limiter } from '../../src/limiter/limiter.ts';
import { LocalLimiter, memoryLevels } from '../../src/limiter/local-limiter.ts';
import { memoryEpochRecord } from '../../src/limiter/redis/epoch.ts';
import { RedisLimiter } from '../../src/limiter/redis/redis-limiter.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const N = Number(args.get('n') ?? 10_000);
const REDIS_URL = args.get('url') ?? process.env.ALLOT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const RESOURCES: LimitedResource[] = [
  { name: 'gpt', capacity: 1e12, refillPerS: 1e9, pools: [{ name: 'gold', kind: 'reserved', tier: 'gold', share: 0.2 }] },
  { name: 'calls', capacity: 1e12, refillPerS: 1e9 },
];
const CTX = { who: { clientId: 'c1', tier: 'plain' }, ownerWaiting: () => false };

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function measure(name: string, l: Limiter): Promise<void> {
  const warm = Math.min(1000, N);
  const us: number[] = [];
  for (let i = 0; i < warm + N; i++) {
    const t0 = performance.now();
    const t = await l.take(`g${i}`, { gpt: 1200, calls: 1 }, CTX, 60_000);
    if (!t.ok) throw new Error(`${name}: refused ${JSON.stringify(t)}`);
    await l.settle(`g${i}`, { gpt: 900, calls: 1 });
    if (i >= warm) us.push((performance.now() - t0) * 1000);
  }
  us.sort((a, b) => a - b);
  const mean = us.reduce((a, b) => a + b, 0) / us.length;
  console.log(`${name.padEnd(6)} n=${N}  p50 ${pct(us, 50).toFixed(0)} µs  p99 ${pct(us, 99).toFixed(0)} µs  max ${(us.at(-1) as number).toFixed(0)} µs  mean ${mean.toFixed(0)} µs`);
}

const local = await LocalLimiter.open({ resources: RESOURCES, clock: systemClock, levels: memoryLevels() });
await measure('local', local);
await local.close();

const prefix = `allot-bench-${Math.random().toString(16).slice(2)}:`;
const redis = await RedisLimiter.open({ url: REDIS_URL, prefix, epochs: memoryEpochRecord(), resources: RESOURCES });
await measure('redis', redis);
await redis.close();
const r = new Redis(REDIS_URL);
const keys = await r.keys(`${prefix}*`);
if (keys.length > 0) await r.del(...keys);
await r.quit();
