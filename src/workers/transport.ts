/**
 * What Allot sends a worker (the job) and what it makes of the answer.
 * Transports differ only in how bytes travel; all of them return a
 * `WorkerOutcome` built by `parseStandardResponse`, so a failure means the
 * same thing whichever transport carried it.
 */
import type { Usage } from '../core/cost.ts';
import type { RequestError, WorkerDef } from '../model.ts';
import type { PayloadRef } from './references.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../config/bounds.ts';

export interface Job {
  readonly request_id: string;
  readonly template: string;
  readonly stage: number;
  readonly attempt: number;
  readonly input: unknown;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Epoch ms on Allot's clock after which the answer is no longer wanted. */
  readonly deadline_ms: number;
  /**
   * Milliseconds left when the job was sent. Workers time out relative to when
   * it arrived, not by comparing deadline_ms with their own clock: clocks differ.
   */
  readonly timeout_ms: number;
  readonly progress?: { readonly url: string; readonly token: string } | undefined;
}

/**
 * A job's input as the JSON bytes the store holds, spliced into the job's
 * body instead of being parsed and serialized again: a megabyte input cost
 * the event loop about 10 ms each way. Anywhere else it serializes as the
 * value it stands for (toJSON).
 */
export class RawJson {
  readonly bytes: Buffer;
  readonly #value: () => unknown;
  constructor(bytes: Buffer, value: () => unknown) {
    this.bytes = bytes;
    this.#value = value;
  }

  toJSON(): unknown {
    return this.#value();
  }
}

const INPUT_KEY = Buffer.from('{"input":');

/**
 * A job as JSON, in parts to write one after another: its input spliced in
 * as bytes when it is RawJson (the rest serialized as usual), else one string.
 */
export function jobJson(job: Job): string | Buffer[] {
  if (!(job.input instanceof RawJson)) return JSON.stringify(job);
  const { input, ...rest } = job;
  const tail = JSON.stringify(rest);
  return [INPUT_KEY, input.bytes, Buffer.from(tail === '{}' ? '}' : `,${tail.slice(1)}`)];
}

/** Bytes of a body made by jobJson. */
export function bodyBytes(body: string | Buffer[]): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.reduce((n, b) => n + b.length, 0);
}

export type WorkerOutcome =
  | { readonly ok: true; readonly output: unknown; readonly usage: Usage | null; readonly metadata: Record<string, unknown> }
  | { readonly ok: false; readonly error: RequestError; readonly usage: Usage | null };

export interface DispatchContext {
  readonly signal: AbortSignal;
  /** Progress reported in-band (subprocess stdout); HTTP workers post it to Allot instead. */
  readonly onProgress: (percent: number, message: string | undefined) => void;
  /** The input already stored by reference for this worker (a pipeline stage's output); v2 sends it as `input_ref`. */
  readonly inputRef?: PayloadRef | undefined;
  /** What the worker declared it uses per job, by resource (a v2 handshake's `resource_requirements.api_calls`). */
  readonly onRequirements?: ((declared: Readonly<Record<string, number>>) => void) | undefined;
  /** The fencing token the job runs under (a pull worker sends it back with the result). */
  readonly leaseToken?: number | undefined;
  /** false: a pipeline stage, whose answer does not end the request. @default true */
  readonly endsRequest?: boolean | undefined;
}

export interface Transport {
  dispatch(worker: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome>;
  /** Several jobs as one call, results in the same order (transports that can batch). */
  dispatchBatch?(worker: WorkerDef, jobs: readonly Job[], ctx: DispatchContext): Promise<WorkerOutcome[]>;
  close(): Promise<void>;
}

export const failure = (code: string, message: string, retryable: boolean, usage: Usage | null = null): WorkerOutcome => ({
  ok: false, error: { code, message, retryable }, usage,
});

/** The error for a dispatch that was aborted: by the deadline or by cancellation. */
export function abortOutcome(signal: AbortSignal): WorkerOutcome {
  const reason = signal.reason as { code?: string } | undefined;
  if (reason?.code === 'CANCELLED') return failure('CANCELLED', 'Cancelled while running', false);
  return failure('REQUEST_TIMEOUT', 'The worker did not answer before the deadline', true);
}

const nonNeg = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** The standard response's `usage` (tokens and named resources), or null when it has neither. */
export function parseUsage(u: unknown): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const o = u as { tokens?: { input?: unknown; output?: unknown }; resources?: unknown };
  const resources: Record<string, number> = {};
  if (o.resources && typeof o.resources === 'object') {
    for (const [k, v] of Object.entries(o.resources as Record<string, unknown>)) if (nonNeg(v) > 0) resources[k] = nonNeg(v);
  }
  if (!o.tokens && Object.keys(resources).length === 0) return null;
  return { tokens: { input: nonNeg(o.tokens?.input), output: nonNeg(o.tokens?.output) }, resources };
}

/**
 * The standard response: `{ success, output, usage, metadata }` or
 * `{ success: false, error: { code, message, retryable } }`. Anything else is
 * a retryable WORKER_ERROR naming what was wrong.
 */
export function parseStandardResponse(body: unknown, httpStatus = 200): WorkerOutcome {
  if (!body || typeof body !== 'object' || typeof (body as { success?: unknown }).success !== 'boolean') {
    return failure('WORKER_ERROR', `Worker answered${httpStatus === 200 ? '' : ` HTTP ${httpStatus}`} without the standard response (no boolean "success")`, httpStatus >= 500 || httpStatus === 200);
  }
  const b = body as { success: boolean; output?: unknown; usage?: unknown; metadata?: unknown; error?: { code?: unknown; message?: unknown; retryable?: unknown } };
  const usage = parseUsage(b.usage);
  if (b.success && nestedDeeperThan(b.output, MAX_JSON_DEPTH)) {
    // Storing or serializing it would overflow the stack: refused like any malformed answer (and charged what it used).
    return failure('WORKER_ERROR', `Worker answered an output nested more than ${MAX_JSON_DEPTH} deep`, false, usage);
  }
  if (b.success) {
    const metadata = b.metadata && typeof b.metadata === 'object' ? (b.metadata as Record<string, unknown>) : {};
    return { ok: true, output: b.output ?? null, usage, metadata };
  }
  const e = b.error ?? {};
  const retryable = typeof e.retryable === 'boolean' ? e.retryable : httpStatus >= 500;
  return failure(typeof e.code === 'string' ? e.code : 'WORKER_ERROR', typeof e.message === 'string' ? e.message : 'Worker reported a failure', retryable, usage);
}

/**
 * A batch call's answer as each job's outcome, in order: `{ "success": true,
 * "results": [response, …] }` with one result per job, else every job fails.
 */
export function batchOutcomes(w: WorkerDef, jobs: readonly Job[], raw: { ok: true; body: unknown; status: number } | { ok: false; outcome: WorkerOutcome }): WorkerOutcome[] {
  if (!raw.ok) return jobs.map(() => raw.outcome);
  const results = (raw.body as { results?: unknown } | null)?.results;
  if (!Array.isArray(results) || results.length !== jobs.length) {
    const bad = failure('WORKER_ERROR', `Worker "${w.name}" answered a batch of ${jobs.length} without ${jobs.length} results`, true);
    return jobs.map(() => bad);
  }
  return results.map((r) => parseStandardResponse(r, raw.status));
}
