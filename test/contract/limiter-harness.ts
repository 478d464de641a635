/** What the limiter contract (limiter-contract.ts) needs of a backend: fresh state per test, and a way to let time pass. */
import type { FakeClock } from '../../src/core/clock.ts';
import type { LimitedResource, Limiter } from '../../src/limiter/limiter.ts';

export interface LimiterHarness {
  /** Open a limiter on this test's state, as a (re)started process would. Closed by `cleanup`. */
  open(resources: readonly LimitedResource[]): Promise<Limiter>;
  /** Let time pass: the fake clock moves at once (local); real time passes (Redis, Durable Objects). */
  elapse(ms: number): Promise<void>;
  /** Whether `elapse` is exact and instant (a fake clock), so long or backward steps are possible. */
  readonly fakeClock: FakeClock | undefined;
  cleanup(): Promise<void>;
}
