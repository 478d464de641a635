/**
 * Running a pipeline (a template with ordered stages, each on its own
 * worker) within one claimed attempt of its request.
 *
 * - Each stage's output is the next stage's input. A stage output of 1 KiB
 *   or more is stored by reference (compressed, 24 h, readable only by the
 *   next stage's worker); the stage state keeps the reference, not the
 *   payload. A v2 worker receives it as its `input_ref`; direct and
 *   subprocess workers receive the value itself.
 * - Stage state is written under the request's lease after every stage, so
 *   a request taken back after a crash resumes at the first unfinished stage.
 * - A failed stage is retried on its own (backoff with jitter, its own
 *   `max_attempts`); earlier stages are not run again.
 * - Progress and usage add up across stages: stage k of n at p% is
 *   (k·100 + p) / n overall.
 * - Cancellation aborts the running stage and starts no other.
 */
import { sumUsage, type Usage } from '../core/cost.ts';
import type { Nano } from '../core/money.ts';
import { backoffDelay } from '../core/retry.ts';
import type { Clock } from '../core/clock.ts';
import type { PipelineState, StageDef, StageState, WorkRequest, WorkerDef } from '../model.ts';
import type { Store } from '../store/store.ts';
import type { PayloadRef, References } from '../workers/references.ts';
import { abortOutcome, failure, type DispatchContext, type Job, type Transport, type WorkerOutcome } from '../workers/transport.ts';

export interface PipelineDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly references: References;
  readonly transports: Readonly<Record<WorkerDef['transport'], Transport>>;
  readonly worker: (name: string) => WorkerDef | undefined;
  readonly random?: (() => number) | undefined;
  /**
   * A stage's worker answered (`ok`), or failed an attempt that will be
   * retried; the failure that ends the pipeline is reported with its outcome.
   */
  readonly onStageOutcome?: ((worker: string, outcome: WorkerOutcome) => void) | undefined;
  /** A worker declared what it uses per job (v2 handshake). */
  readonly onRequirements?: ((worker: string, declared: Readonly<Record<string, number>>) => void) | undefined;
}

export interface PipelineRun {
  readonly req: WorkRequest;
  readonly stages: readonly StageDef[];
  /** The fencing token of this attempt. */
  readonly token: number;
  readonly signal: AbortSignal;
  /** The whole pipeline's deadline (clock ms). */
  readonly deadlineAt: number;
  /** The job for one stage; the transport sends it as it does any job. */
  readonly job: (stage: number, input: unknown, attempt: number, deadlineAt: number) => Job;
  /** A stage is about to run on `worker`: resolves once it holds one of the worker's slots (or the run is aborted). */
  readonly onStage: (stage: number, worker: string) => Promise<void>;
  /** Overall progress, already aggregated across stages. */
  readonly onProgress: (percent: number, message: string | undefined) => void;
  readonly costOf: (usage: Usage | null) => Nano;
}

/** Overall percent for stage `k` of `n` at `p` percent. */
export const overallPercent = (k: number, n: number, p: number): number => Math.round(((k * 100 + Math.max(0, Math.min(100, p))) / n) * 10) / 10;

function freshState(stages: readonly StageDef[]): PipelineState {
  return {
    next: 0,
    stages: stages.map((s) => ({ worker: s.worker, state: 'PENDING', attempts: 0, usage: null, costNano: 0, error: null, startedAt: null, completedAt: null })),
  };
}

/** Wait `ms`, or less if `signal` aborts. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Run the pipeline from its first unfinished stage. The outcome is the last
 * stage's output with the usage of every stage run in this attempt, or the
 * failure that stopped it (not retryable as a whole: its stage had its retries).
 */
export async function runPipeline(d: PipelineDeps, run: PipelineRun): Promise<WorkerOutcome> {
  const { req, stages } = run;
  const n = stages.length;
  let state: PipelineState = req.pipeline && req.pipeline.stages.length === n ? req.pipeline : freshState(stages);
  let usage: Usage | null = null;
  let input: unknown = req.input;
  let inputRef: PayloadRef | undefined;
  if (state.next > 0) {
    const prev = state.stages[state.next - 1] as StageState;
    const got = await previousOutput(d, prev);
    if (!got.ok) return got.outcome;
    ({ input, inputRef } = got);
  }
  const save = async (k: number, st: StageState, ended?: Record<string, unknown>, next = state.next): Promise<boolean> => {
    state = { next, stages: state.stages.map((s, i) => (i === k ? st : s)) };
    const now = d.clock.now();
    const progress = { percent: overallPercent(next, n, 0), message: `stage ${Math.min(next + 1, n)}/${n}`, at: now };
    return d.store.setPipeline(req.id, run.token, { now, pipeline: state, ...(ended ? { ended, progress } : {}) });
  };

  for (let k = state.next; k < n; k++) {
    const def = stages[k] as StageDef;
    const w = d.worker(def.worker);
    if (!w) return failure('WORKER_UNAVAILABLE', `Stage ${k + 1}/${n}: worker "${def.worker}" is not registered`, false, usage);
    await run.onStage(k, w.name);
    let st: StageState = { ...(state.stages[k] as StageState), worker: w.name, attempts: 0, error: null };
    const stageTimeout = def.timeoutMs ?? Math.floor((run.deadlineAt - d.clock.now()) / (n - k));
    for (;;) {
      if (run.signal.aborted) return withUsage(abortOutcome(run.signal), usage);
      const attempt = st.attempts + 1;
      const startedAt = d.clock.now();
      st = { ...st, state: 'RUNNING', attempts: attempt, startedAt };
      if (!(await save(k, st))) return withUsage(failure('LEASE_LOST', 'The pipeline lost its lease', true), usage);
      const deadlineAt = Math.min(run.deadlineAt, startedAt + stageTimeout);
      const outcome = await dispatchStage(d, w, run.job(k, input, attempt, deadlineAt), run, k, n, deadlineAt, inputRef);
      usage = sumUsage(usage, outcome.usage);
      const stageUsage = sumUsage(st.usage, outcome.usage);
      st = { ...st, usage: stageUsage, costNano: run.costOf(stageUsage) };
      if (outcome.ok) {
        d.onStageOutcome?.(w.name, outcome);
        const next = k + 1;
        let kept: { output?: unknown; outputRef?: string; outputBytes: number };
        if (next < n) {
          const ref = await d.references.make(req.id, (stages[next] as StageDef).worker, outcome.output).catch((err: Error) => err);
          if (ref instanceof Error) return withUsage(failure('PAYLOAD_TOO_LARGE', `Stage ${k + 1}/${n} output: ${ref.message}`, false), usage);
          inputRef = ref.storage_type === 'reference' ? ref : undefined;
          kept = ref.storage_type === 'reference' ? { outputRef: ref.ref_id, outputBytes: ref.size_bytes } : { output: outcome.output, outputBytes: ref.size_bytes };
        } else kept = { outputBytes: Buffer.byteLength(JSON.stringify(outcome.output ?? null)) };
        st = { ...st, ...kept, state: 'COMPLETED', completedAt: d.clock.now(), error: null };
        await save(k, st, { stage: k, worker: w.name, state: 'COMPLETED', attempt, cost_nano: st.costNano, output_bytes: kept.outputBytes }, next);
        if (next === n) return { ok: true, output: outcome.output, usage, metadata: { ...outcome.metadata, stages: n } };
        input = outcome.output;
        break;
      }
      const cancelled = outcome.error.code === 'CANCELLED';
      const retry = !cancelled && outcome.error.retryable && attempt < def.maxAttempts && !run.signal.aborted;
      st = { ...st, state: retry ? 'PENDING' : cancelled ? 'CANCELLED' : 'FAILED', error: outcome.error, completedAt: retry ? null : d.clock.now() };
      await save(k, st, { stage: k, worker: w.name, state: retry ? 'RETRYING' : st.state, attempt, error: outcome.error });
      if (retry) d.onStageOutcome?.(w.name, outcome);
      if (!retry) {
        const e = outcome.error;
        return withUsage(
          cancelled ? outcome : failure(e.code, `Stage ${k + 1}/${n} (${w.name}) failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${e.message}`, false),
          usage,
        );
      }
      const delay = backoffDelay({ maxAttempts: def.maxAttempts, ...req.policy.retry }, attempt, d.random);
      if (d.clock.now() + delay >= run.deadlineAt) return withUsage(failure('REQUEST_TIMEOUT', `Stage ${k + 1}/${n} (${w.name}) has no time left for another attempt: ${outcome.error.message}`, false), usage);
      await sleep(delay, run.signal);
    }
  }
  return failure('WORKER_ERROR', 'The pipeline has no stage left to run', false, usage);
}

function withUsage(o: WorkerOutcome, usage: Usage | null): WorkerOutcome {
  return o.ok ? o : { ...o, usage };
}

async function previousOutput(d: PipelineDeps, prev: StageState): Promise<{ ok: true; input: unknown; inputRef: PayloadRef | undefined } | { ok: false; outcome: WorkerOutcome }> {
  if (!prev.outputRef) return { ok: true, input: prev.output ?? null, inputRef: undefined };
  const r = await d.store.getRef(prev.outputRef, d.clock.now());
  if (!r) return { ok: false, outcome: failure('REFERENCE_EXPIRED', `The output of stage "${prev.worker}" (${prev.outputRef}) has expired; the pipeline cannot resume`, false) };
  return {
    ok: true, input: r.value,
    inputRef: { ref_id: r.refId, storage_type: 'reference', size_bytes: r.sizeBytes, expires_at: new Date(r.expiresAt).toISOString() },
  };
}

async function dispatchStage(
  d: PipelineDeps, w: WorkerDef, job: Job, run: PipelineRun, k: number, n: number, deadlineAt: number, inputRef: PayloadRef | undefined,
): Promise<WorkerOutcome> {
  // The stage's own deadline, and the pipeline's cancellation, both abort it.
  const abort = new AbortController();
  const onAbort = (): void => abort.abort(run.signal.reason);
  run.signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => abort.abort({ code: 'REQUEST_TIMEOUT' }), Math.max(0, deadlineAt - d.clock.now()));
  const ctx: DispatchContext = {
    signal: abort.signal,
    onProgress: (pct, msg) => run.onProgress(overallPercent(k, n, pct), `stage ${k + 1}/${n} (${w.name})${msg ? `: ${msg}` : ''}`),
    ...(inputRef ? { inputRef } : {}),
    onRequirements: (declared) => d.onRequirements?.(w.name, declared),
    leaseToken: run.token, endsRequest: false,
  };
  try {
    return await d.transports[w.transport].dispatch(w, job, ctx);
  } finally {
    clearTimeout(timer);
    run.signal.removeEventListener('abort', onAbort);
  }
}
