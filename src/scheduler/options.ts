/** What a Scheduler is built with: its options (from the resolved config) and the services it uses. */
import type { Clock } from '../core/clock.ts';
import type { DeferredPolicy } from '../core/offpeak.ts';
import type { Events } from '../events.ts';
import type { Limiter } from '../limiter/limiter.ts';
import type { Registry } from '../service/registry.ts';
import type { Store } from '../store/store.ts';
import type { References } from '../workers/references.ts';
import type { Transport } from '../workers/transport.ts';
import type { PullTransport } from '../workers/pull-transport.ts';
import type { ProgressTokens } from './progress-token.ts';

export interface SchedulerOptions {
  readonly instanceId: string;
  /** @default 10 minutes */
  readonly starvationMs: number;
  /**
   * A request that has waited this long and whose resources are short gets
   * them held: nothing else takes from those buckets until it has started,
   * so a large request is not starved by a stream of small ones.
   * @default 30 seconds
   */
  readonly holdAfterMs: number;
  /** When deferred work may run: off-peak windows, or a while of low utilization. */
  readonly deferred: DeferredPolicy;
  /** @default 1 minute */
  readonly fairnessHalfLifeMs: number;
  /** Lease = template timeout + this. @default 5 seconds */
  readonly leaseGraceMs: number;
  /** A pull worker's lease on a job (until its heartbeat renews it), at most to the job's deadline. @default 30000 */
  readonly pullLeaseMs?: number | undefined;
  /** @default 1 second */
  readonly reaperIntervalMs: number;
  /** Base URL workers post progress to, e.g. http://127.0.0.1:8787. */
  readonly publicUrl: () => string;
}

export interface SchedulerDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly events: Events;
  readonly clock: Clock;
  /** The token buckets (src/limiter/open.ts picks it); the scheduler takes, settles and releases through it, and does not close it. */
  readonly limiter: Limiter;
  readonly transports: Readonly<Record<'http' | 'subprocess' | 'v2' | 'pull', Transport>> & { readonly pull: PullTransport };
  readonly progressTokens: ProgressTokens;
  /** Where pipeline stage outputs are kept by reference. */
  readonly references: References;
  readonly random?: () => number;
}
