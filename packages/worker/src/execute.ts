import { format } from 'node:util';
import { WorkerError } from './errors.ts';
import type { Job, JobEnvelope } from './job.ts';
import { ProgressCoalescer } from './progress.ts';
import type { ProgressSink } from './progress.ts';
import { failure, failureFromError } from './response.ts';
import type { StandardResponse, Usage } from './response.ts';

/** What a handler can do besides returning its output. */
export interface JobContext {
  /** Aborts at the job's deadline, or when the HTTP client goes away. */
  signal: AbortSignal;
  /** Report progress 0-100; rate-limited and best effort. */
  progress(percent: number, message?: string): void;
  /** Add to the usage reported with the response (tokens and named resources). */
  addUsage(u: { inputTokens?: number; outputTokens?: number; resources?: Record<string, number> }): void;
  /** Copied into the response's `metadata`. */
  metadata: Record<string, unknown>;
  /** Log to stderr (stdout belongs to the subprocess protocol). */
  log(...args: unknown[]): void;
}

export type Handler<I, O> = (job: Job<I>, ctx: JobContext) => Promise<O> | O;

/** How a transport wants one job run. */
export interface RunOptions {
  progressSink: ProgressSink | null;
  /** Aborts the job from outside, e.g. when the HTTP client disconnects. */
  signal?: AbortSignal;
}

/** setTimeout overflows past 2^31-1 ms and would fire at once; such a deadline is ~25 days away anyway: no timer. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The answer to a job that arrived with no time left (`timeout_ms` 0, or past its deadline): retryable, it never ran. */
export function noTimeLeft(job: Job): StandardResponse {
  return failure('DEADLINE_EXCEEDED', `no time was left when the job arrived (timeout_ms ${job.timeoutMs ?? 'absent'})`, true);
}

function checkAmount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`addUsage: ${name} must be a finite number >= 0`);
  return v;
}

/** Run one job: deadline and cancellation, usage accounting, progress, and mapping the outcome to a response. */
export async function execute<O>(
  name: string,
  handler: Handler<Record<string, unknown>, O>,
  envelope: JobEnvelope,
  opts: RunOptions,
): Promise<StandardResponse> {
  const { job } = envelope;
  // Time left, counted on the monotonic clock from when the job arrived: never this machine's wall clock
  // against the sender's (a worker 10 minutes ahead would refuse every job, one behind never abort).
  const left = envelope.budgetMs === null ? null : envelope.budgetMs - (performance.now() - envelope.receivedAt);
  if (left !== null && left <= 0) return noTimeLeft(job);

  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  if (left !== null && left <= MAX_TIMER_MS) {
    timer = setTimeout(() => {
      controller.abort(new WorkerError('DEADLINE_EXCEEDED', `deadline exceeded: ${Math.round(envelope.budgetMs ?? 0)} ms after the job arrived`, { retryable: true }));
    }, left);
  }
  const external = opts.signal;
  const onExternalAbort = (): void => {
    controller.abort(new WorkerError('CANCELLED', 'job cancelled: the client went away', { retryable: true }));
  };
  if (external !== undefined) {
    if (external.aborted) onExternalAbort();
    else external.addEventListener('abort', onExternalAbort, { once: true });
  }

  const coalescer = opts.progressSink === null ? null : new ProgressCoalescer(opts.progressSink);
  const tokens = { input: 0, output: 0 };
  const resources: Record<string, number> = {};
  const logPrefix = `[${name} ${job.requestId}/${job.stage}]`;
  const ctx: JobContext = {
    signal: controller.signal,
    progress: (percent, message) => coalescer?.report(percent, message),
    addUsage(u) {
      if (u.inputTokens !== undefined) tokens.input += checkAmount('inputTokens', u.inputTokens);
      if (u.outputTokens !== undefined) tokens.output += checkAmount('outputTokens', u.outputTokens);
      if (u.resources !== undefined) {
        for (const [key, amount] of Object.entries(u.resources)) {
          resources[key] = (resources[key] ?? 0) + checkAmount(`resources.${key}`, amount);
        }
      }
    },
    metadata: {},
    log: (...args) => {
      process.stderr.write(`${logPrefix} ${format(...args)}\n`);
    },
  };

  const started = performance.now();
  // A snapshot, because a handler that ignores its signal may keep adding usage after we answered.
  const usage = (): Usage => ({
    tokens: { ...tokens },
    resources: { ...resources },
    duration: Math.round((performance.now() - started) * 1000) / 1000,
  });

  try {
    const output = await untilAborted(invoke(handler, job, ctx), controller.signal);
    return { success: true, output: output === undefined ? null : output, usage: usage(), metadata: { ...ctx.metadata } };
  } catch (err) {
    return failureFromError(controller.signal.aborted ? controller.signal.reason : err, usage());
  } finally {
    clearTimeout(timer);
    external?.removeEventListener('abort', onExternalAbort);
    coalescer?.close();
  }
}

// Turns a synchronous throw into a rejection so both paths are handled alike.
async function invoke<O>(handler: Handler<Record<string, unknown>, O>, job: Job, ctx: JobContext): Promise<O> {
  return handler(job, ctx);
}

/** Settle with the work, or reject with the abort reason as soon as the signal fires (the work is left to finish on its own). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
