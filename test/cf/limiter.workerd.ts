/**
 * Runs inside workerd (test/cf/limiter-durable.test.ts bundles it into a
 * Worker with the bucket and grant objects bound): the limiter contract
 * against the Durable Object limiter, adapter and objects both in workerd,
 * as on Cloudflare. Each test gets a fresh name prefix, so fresh objects.
 */
import type { DurableNamespaceLike } from '../../src/cf/durable.ts';
import { DurableLimiter } from '../../src/limiter/durable/durable-limiter.ts';
import type { Limiter } from '../../src/limiter/limiter.ts';
import { limiterContract, sharedBucketsContract, sharedLimiterContract } from '../contract/limiter-contract.ts';
import type { LimiterHarness } from '../contract/limiter-harness.ts';
import { workerdEnv } from './workerd-env.ts';

async function harness(): Promise<LimiterHarness> {
  const env = workerdEnv();
  const prefix = `test-${crypto.randomUUID()}:`;
  const open: Limiter[] = [];
  return {
    fakeClock: undefined,
    async open(resources) {
      const l = await DurableLimiter.open({ buckets: env.BUCKETS as DurableNamespaceLike, grants: env.GRANTS as DurableNamespaceLike, resources, prefix });
      open.push(l);
      return l;
    },
    elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
    async cleanup() {
      for (const l of open) await l.close();
    },
  };
}

limiterContract('durable-object', false, harness);
sharedBucketsContract('durable-object', harness);
sharedLimiterContract('durable-object', false, harness);
