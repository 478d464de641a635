/**
 * Batch calls: Allot may send several jobs of one template and batch key as
 * one HTTP call, `{ "batch": [job, …] }`, and expects `{ "success": true,
 * "results": [response, …] }` in the same order. A worker with a
 * `batchHandler` gets them in one call (one upstream API call for all, say);
 * otherwise each job runs through the ordinary handler, side by side.
 */
import type { Job, JobEnvelope } from './job.ts';
import { parseJobEnvelope } from './job.ts';
import type { StandardResponse, Usage } from './response.ts';
import { emptyUsage, failureFromError } from './response.ts';
import { WorkerError } from './errors.ts';
import { MAX_TIMER_MS, noTimeLeft, untilAborted } from './execute.ts';

export interface BatchContext {
  readonly signal: AbortSignal;
  /** Report what job `index` used (each request is charged its own usage). */
  addUsage(index: number, u: { inputTokens?: number; outputTokens?: number; resources?: Record<string, number> }): void;
}

export type BatchHandler<I, O> = (jobs: Job<I>[], ctx: BatchContext) => Promise<O[]> | O[];

/**
 * Run one batch: parse every job (a bad one fails alone, and so does one
 * that arrived with no time left), then the batch handler once for the rest,
 * aborted when the job with the least time left runs out of it.
 * @param receivedAt performance.now() when the batch arrived: each job's `timeout_ms` counts from there
 */
export async function runBatchHandler<O>(
  handler: BatchHandler<Record<string, unknown>, O>,
  rawJobs: unknown[],
  outer: AbortSignal,
  receivedAt: number = performance.now(),
): Promise<StandardResponse[]> {
  const elapsed = performance.now() - receivedAt;
  const parsed: (JobEnvelope | StandardResponse)[] = rawJobs.map((raw) => {
    let envelope: JobEnvelope;
    try {
      envelope = parseJobEnvelope(raw, receivedAt);
    } catch (err) {
      return failureFromError(err, emptyUsage());
    }
    // Answered at once, rather than cutting the whole batch's time to nothing.
    return envelope.budgetMs !== null && envelope.budgetMs - elapsed <= 0 ? noTimeLeft(envelope.job) : envelope;
  });
  const valid = parsed.map((p, i) => ({ p, i })).filter((x): x is { p: JobEnvelope; i: number } => 'job' in x.p);
  if (valid.length === 0) return parsed as StandardResponse[];
  const budgets = valid.map((v) => v.p.budgetMs).filter((b): b is number => b !== null);
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer.reason);
  if (outer.aborted) onOuter();
  else outer.addEventListener('abort', onOuter, { once: true });
  const least = budgets.length ? Math.min(...budgets) : null;
  const left = least === null ? null : least - (performance.now() - receivedAt);
  const timer = left === null || left > MAX_TIMER_MS ? undefined : setTimeout(() => {
    controller.abort(new WorkerError('DEADLINE_EXCEEDED', `deadline exceeded: ${Math.round(least ?? 0)} ms after the batch arrived`, { retryable: true }));
  }, Math.max(0, left));
  const signal = controller.signal;
  try {
    return await runValid(handler, parsed, valid, signal);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener('abort', onOuter);
  }
}

async function runValid<O>(
  handler: BatchHandler<Record<string, unknown>, O>,
  parsed: (JobEnvelope | StandardResponse)[],
  valid: { p: JobEnvelope; i: number }[],
  signal: AbortSignal,
): Promise<StandardResponse[]> {
  const usage: Usage[] = valid.map(() => emptyUsage());
  const started = performance.now();
  let outputs: O[];
  try {
    outputs = await untilAborted(Promise.resolve().then(() => handler(valid.map((v) => v.p.job), {
      signal,
      addUsage(index, u) {
        const target = usage[index];
        if (!target) throw new RangeError(`addUsage: no job ${index} in this batch`);
        target.tokens.input += u.inputTokens ?? 0;
        target.tokens.output += u.outputTokens ?? 0;
        for (const [k, v] of Object.entries(u.resources ?? {})) target.resources[k] = (target.resources[k] ?? 0) + v;
      },
    })), signal);
    if (!Array.isArray(outputs) || outputs.length !== valid.length) {
      throw new TypeError(`batchHandler returned ${Array.isArray(outputs) ? outputs.length : typeof outputs} results for ${valid.length} jobs`);
    }
  } catch (err) {
    const results = [...parsed] as StandardResponse[];
    valid.forEach((v, k) => (results[v.i] = failureFromError(signal.aborted ? signal.reason : err, usage[k] as Usage)));
    return results;
  }
  const duration = Math.round((performance.now() - started) * 1000) / 1000;
  const results = [...parsed] as StandardResponse[];
  valid.forEach((v, k) => {
    results[v.i] = { success: true, output: (outputs[k] ?? null) as unknown, usage: { ...(usage[k] as Usage), duration }, metadata: { batch_size: valid.length } };
  });
  return results;
}
