/**
 * What the scheduler's parts share: the requests it holds (queued, waiting
 * for a retry, running), the counters kept alongside them, and the services
 * every part uses. State one part alone needs stays private to that part.
 *
 * Invariants (see scheduler.ts): a request is in exactly one of `queued`
 * (with `queue`; PENDING), `retries` (WAITING_RETRY), `running`
 * (PREPARING/RUNNING under our lease), or none. The counters
 * (`queuedByClient`, `queuedDemand`, `runningByClient`, `slots`) change only
 * with the map they count.
 */
import { AllotError } from '../core/errors.ts';
import type { Score } from '../core/priority.ts';
import { RunQueue, type QueuedItem } from '../core/run-queue.ts';
import type { RequestError } from '../model.ts';
import { Buckets, type Amounts } from './buckets.ts';
import { FairnessTracker } from './fairness-tracker.ts';
import { ResultSharing } from './result-sharing.ts';
import { RetryTimer } from './retry-timer.ts';
import type { SchedulerDeps, SchedulerOptions } from './options.ts';
import type { WorkerReservations } from './worker-reservations.ts';
import { WorkerSlots } from './worker-slots.ts';

/** A PENDING request as the scheduler keeps it: what picking and starting it need. */
export interface Queued {
  readonly clientId: string;
  readonly worker: string;
  readonly needs: Amounts;
  readonly basePoints: number;
  readonly priority: Score;
  readonly klass: QueuedItem['klass'];
  readonly timeoutMs: number;
  /** When it was accepted (clock ms). */
  readonly enqueuedAt: number;
  /** Deferred by its template to off-peak: runs anyway from this time. */
  readonly deadlineAt: number | null;
  /** performance.now() when it became runnable (accepted, or back from a retry wait). */
  readonly readyAt: number;
}

/** A request this scheduler has started and not yet reconciled. */
export interface Running {
  readonly id: string;
  readonly clientId: string;
  /** The worker whose slot it holds: a pipeline moves from stage to stage. */
  worker: string;
  /** A pipeline's stage now running, and how many there are (progress is reported across them). */
  stage?: { k: number; n: number } | undefined;
  /** Fencing token; -1 until the claim is applied. */
  token: number;
  readonly reserved: Amounts;
  /** The limiter's grant for this attempt's units (`${id}:<random>`, fresh per attempt): settled or released by it. */
  readonly grantId: string;
  readonly abort: AbortController;
  readonly startedAt: number;
  /** Pipeline stages' workers that reported more output than max_tokens (the overuse is theirs). */
  readonly overusers: Set<string>;
}

export class SchedulerState {
  readonly d: SchedulerDeps;
  readonly o: SchedulerOptions;
  readonly queue: RunQueue;
  readonly queued = new Map<string, Queued>();
  readonly running = new Map<string, Running>();
  readonly runningByClient = new Map<string, number>();
  /** Slots of workers' max concurrency, and pipeline stages waiting for one. */
  readonly slots = new WorkerSlots((h) => this.running.get((h as Running).id) === h);
  readonly queuedByClient = new Map<string, number>();
  readonly retries: RetryTimer;
  readonly fairness: FairnessTracker;
  readonly sharing: ResultSharing;
  /** Queued request id → its run-queue group. */
  readonly groupOf = new Map<string, string>();
  /** Units queued requests need, per resource: the backlog a new request waits behind. */
  readonly queuedDemand = new Map<string, number>();
  /** Run-queue group → the resource whose share decides fairness for it. */
  readonly groupResource = new Map<string, string>();
  /** The token buckets: all limiter access goes through it. */
  readonly buckets: Buckets;
  /** Units workers hold themselves; set at start. */
  units: WorkerReservations | undefined;
  /** Claims, dispatches and reconciliations under way (stop waits for them). */
  readonly inflight = new Set<Promise<void>>();

  /** @param onRetryDue called when the earliest retry's time has come */
  constructor(deps: SchedulerDeps, opts: SchedulerOptions, onRetryDue: () => void) {
    this.d = deps;
    this.o = opts;
    this.queue = new RunQueue(opts.starvationMs);
    this.fairness = new FairnessTracker(opts.fairnessHalfLifeMs);
    this.retries = new RetryTimer(deps.clock, onRetryDue);
    this.buckets = new Buckets(deps.limiter, (err) => deps.events.emit('worker:error', 'limiter', toErr(err)));
    this.sharing = new ResultSharing({ store: deps.store, clock: deps.clock, events: deps.events, registry: deps.registry, instanceId: opts.instanceId });
  }

  /** Clients with work queued or running (fairness is shared among them). */
  activeClients(): Set<string> {
    const s = new Set<string>(this.queuedByClient.keys());
    for (const k of this.runningByClient.keys()) s.add(k);
    return s;
  }
}

/** The contended resource fairness is measured on: the model's, else the first needed, else none (''). */
export function primaryResource(needs: Readonly<Record<string, number>>, model: string | undefined): string {
  return model ?? Object.keys(needs)[0] ?? '';
}

export function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function dec(m: Map<string, number>, k: string): void {
  const v = (m.get(k) ?? 0) - 1;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}

export function toErr(err: unknown): RequestError {
  if (err instanceof AllotError) return { code: err.code, message: err.message, retryable: err.retryable };
  return { code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err), retryable: true };
}
