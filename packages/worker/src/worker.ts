import type { BatchHandler } from './batch.ts';
import { DedupeCache } from './dedupe.ts';
import { execute } from './execute.ts';
import type { Handler, RunOptions } from './execute.ts';
import { parseJobEnvelope } from './job.ts';
import type { JobEnvelope } from './job.ts';
import { httpProgressSink, lineProgressSink } from './progress.ts';
import type { ProgressSink } from './progress.ts';
import { emptyUsage, failureFromError } from './response.ts';
import type { StandardResponse } from './response.ts';

export type { Handler, JobContext, RunOptions } from './execute.ts';

export type Transport = 'http' | 'subprocess';

export interface WorkerOptions<I, O> {
  name: string;
  /** Reported by the health check; default "1.0.0". */
  version?: string;
  handler: Handler<I, O>;
  /** Remember successful responses by request_id + template + stage, on every protocol; default true (1,000 entries). */
  dedupe?: boolean | { max: number };
  /** Handle a batch of jobs in one call (see batch.ts); without it, batch calls run `handler` per job. */
  batchHandler?: BatchHandler<I, O>;
}

export interface Worker {
  readonly name: string;
  readonly version: string;
  /**
   * Validate and run one wire job; never rejects, failures are StandardResponses.
   * Progress goes to the job's `progress.url` for 'http' (default), or as NDJSON lines on process.stdout for 'subprocess'.
   */
  handle(rawJob: unknown, transport?: Transport): Promise<StandardResponse>;
}

type Runner = (envelope: JobEnvelope, opts: RunOptions) => Promise<StandardResponse>;

// Transports need to run an already-parsed job; keeping that off the public Worker shape.
const runners = new WeakMap<Worker, Runner>();
const batchHandlers = new WeakMap<Worker, BatchHandler<Record<string, unknown>, unknown>>();

/** The worker's batch handler, if it has one (used by the HTTP transport). */
export function batchHandlerOf(worker: Worker): BatchHandler<Record<string, unknown>, unknown> | undefined {
  return batchHandlers.get(worker);
}

/** Run a parsed job on a worker made by defineWorker (used by the transports). */
export function runEnvelope(worker: Worker, envelope: JobEnvelope, opts: RunOptions): Promise<StandardResponse> {
  const runner = runners.get(worker);
  if (runner === undefined) throw new TypeError('not a worker created by defineWorker()');
  return runner(envelope, opts);
}

const DEFAULT_DEDUPE_MAX = 1_000;

/** Declare a worker: its name, its handler and how duplicates are handled. */
export function defineWorker<I = Record<string, unknown>, O = unknown>(opts: WorkerOptions<I, O>): Worker {
  if (typeof opts.name !== 'string' || opts.name.length === 0) throw new TypeError('defineWorker: name is required');
  if (typeof opts.handler !== 'function') throw new TypeError('defineWorker: handler must be a function');
  const handler = opts.handler as unknown as Handler<Record<string, unknown>, O>;
  const dedupe = opts.dedupe ?? true;
  const cache = dedupe === false ? null : new DedupeCache(dedupe === true ? DEFAULT_DEDUPE_MAX : dedupe.max);

  const run: Runner = async (envelope, runOpts) => {
    if (cache === null) return execute(opts.name, handler, envelope, runOpts);
    // The template is part of the key for the v2 protocol, whose stage ids from other orchestrators all map to stage 0.
    const key = `${envelope.job.requestId}\u0000${envelope.job.template}\u0000${envelope.job.stage}`;
    for (;;) {
      const stored = cache.get(key);
      if (stored !== undefined) return markDeduplicated(stored);
      const running = cache.running(key);
      if (running === undefined) break;
      const first = await running;
      if (first.success) return markDeduplicated(first);
      // The first run failed: this delivery is a real retry, so loop and run it (unless another waiter already did).
    }
    const result = execute(opts.name, handler, envelope, runOpts);
    cache.track(key, result);
    return result;
  };

  const worker: Worker = {
    name: opts.name,
    version: opts.version ?? '1.0.0',
    async handle(rawJob, transport = 'http') {
      let envelope: JobEnvelope;
      try {
        envelope = parseJobEnvelope(rawJob);
      } catch (err) {
        return failureFromError(err, emptyUsage());
      }
      let progressSink: ProgressSink | null = null;
      if (transport === 'subprocess') progressSink = lineProgressSink(process.stdout);
      else if (envelope.progress !== null) progressSink = httpProgressSink(envelope.progress);
      return run(envelope, { progressSink });
    },
  };
  runners.set(worker, run);
  if (opts.batchHandler) batchHandlers.set(worker, opts.batchHandler as unknown as BatchHandler<Record<string, unknown>, unknown>);
  return worker;
}

function markDeduplicated(res: StandardResponse): StandardResponse {
  if (!res.success) return res;
  return { ...res, metadata: { ...res.metadata, deduplicated: true } };
}
