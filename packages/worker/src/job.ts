import { WorkerError } from './errors.ts';

/** A job as the handler sees it (camelCase view of the wire body). */
export interface Job<I = Record<string, unknown>> {
  requestId: string;
  template: string;
  stage: number;
  attempt: number;
  input: I;
  parameters: Record<string, unknown> & { model?: string; max_tokens?: number };
  /**
   * Epoch ms, on this worker's own clock, after which the answer is no longer
   * wanted: when the job arrived plus `timeoutMs`, so comparing it with
   * `Date.now()` is right whatever the sender's clock says. From a sender
   * that gives no `timeout_ms` (an older orchestrator), its `deadline_ms` as
   * sent (its clock); a v2 call with neither: arrival plus the declared
   * `max_processing_time_ms`. null when the job has no limit.
   */
  deadlineMs: number | null;
  /**
   * Milliseconds the job had left when it was sent (the wire's `timeout_ms`),
   * null when the sender gave none. The SDK aborts the handler this long
   * after the job arrived, whatever this machine's clock says: clocks differ
   * between machines, durations do not.
   */
  timeoutMs: number | null;
}

/** Where HTTP-transport progress is posted. */
export interface ProgressTarget {
  url: string;
  token: string;
}

/** A parsed job plus the transport details the handler does not need to see. */
export interface JobEnvelope {
  job: Job;
  progress: ProgressTarget | null;
  /** performance.now() when the job arrived: its time left counts from here. */
  receivedAt: number;
  /** Milliseconds it had left when it arrived; null: no deadline. */
  budgetMs: number | null;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(field: string, expected: string): WorkerError {
  return WorkerError.invalidInput(`invalid job: "${field}" must be ${expected}`);
}

function requiredString(body: Obj, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v.length === 0) throw invalid(field, 'a non-empty string');
  return v;
}

// stage and attempt default rather than fail: an older dispatcher that omits them should still be served.
function optionalInt(body: Obj, field: string, fallback: number, min: number): number {
  const v = body[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(field, `an integer >= ${min}`);
  return v;
}

function parseProgress(v: unknown): ProgressTarget | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw invalid('progress', 'an object with "url" and "token"');
  if (typeof v.url !== 'string' || !/^https?:\/\//.test(v.url)) throw invalid('progress.url', 'an http(s) URL');
  if (typeof v.token !== 'string') throw invalid('progress.token', 'a string');
  return { url: v.url, token: v.token };
}

/** How long a job may run, read from its wire fields by parseTimeLeft. */
export interface TimeLeft {
  /** The wire's `timeout_ms` (ms left when it was sent); null when absent. */
  timeoutMs: number | null;
  /** Epoch ms on this machine's clock when the time is up; null: no limit. */
  deadlineMs: number | null;
  /** Milliseconds left when the job arrived; null: no limit. */
  budgetMs: number | null;
}

/**
 * The time a job has: `timeout_ms` counted from its arrival (clocks differ
 * between machines, durations do not); without it, `deadline_ms` against this
 * machine's clock (an older sender); without either, `fallbackMs`.
 * Throws VALIDATION_ERROR naming a bad field.
 * @param receivedAt performance.now() when the job arrived
 * @param fallbackMs time left when neither field is sent; default null: no limit
 */
export function parseTimeLeft(raw: Obj, receivedAt: number, fallbackMs: number | null = null): TimeLeft {
  const deadline = raw.deadline_ms;
  if (deadline !== undefined && deadline !== null && (typeof deadline !== 'number' || !Number.isFinite(deadline))) {
    throw invalid('deadline_ms', 'a number (epoch ms)');
  }
  const timeout = raw.timeout_ms;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
    throw invalid('timeout_ms', 'a number of milliseconds >= 0');
  }
  // This machine's wall clock when the job arrived: it may be parsed later, once its body is read.
  const arrived = Math.round(Date.now() - (performance.now() - receivedAt));
  if (typeof timeout === 'number') return { timeoutMs: timeout, deadlineMs: arrived + timeout, budgetMs: timeout };
  if (typeof deadline === 'number') return { timeoutMs: null, deadlineMs: deadline, budgetMs: deadline - arrived };
  if (fallbackMs !== null) return { timeoutMs: null, deadlineMs: arrived + fallbackMs, budgetMs: fallbackMs };
  return { timeoutMs: null, deadlineMs: null, budgetMs: null };
}

/**
 * Validate a wire job and split it into the handler's view and the progress target.
 * @param receivedAt performance.now() when it arrived (default: now)
 * @param fallbackMs time left when the job has neither timeout_ms nor deadline_ms; default null: no limit
 */
export function parseJobEnvelope(raw: unknown, receivedAt: number = performance.now(), fallbackMs: number | null = null): JobEnvelope {
  if (!isObject(raw)) throw WorkerError.invalidInput('invalid job: body must be a JSON object');
  const requestId = requiredString(raw, 'request_id');
  const template = requiredString(raw, 'template');
  const stage = optionalInt(raw, 'stage', 0, 0);
  const attempt = optionalInt(raw, 'attempt', 1, 1);

  const input = raw.input;
  if (!isObject(input)) throw invalid('input', 'a JSON object');

  const rawParameters = raw.parameters ?? {};
  if (!isObject(rawParameters)) throw invalid('parameters', 'a JSON object');
  const parameters = { ...rawParameters };
  if (parameters.model !== undefined && typeof parameters.model !== 'string') throw invalid('parameters.model', 'a string');
  const maxTokens = parameters.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null && (typeof maxTokens !== 'number' || !Number.isSafeInteger(maxTokens) || maxTokens < 0)) {
    throw invalid('parameters.max_tokens', 'a non-negative integer');
  }
  // null means "no limit"; dropping it keeps the handler's view true to its `max_tokens?: number` type.
  if (maxTokens === null) delete parameters.max_tokens;

  const time = parseTimeLeft(raw, receivedAt, fallbackMs);
  return {
    job: {
      requestId,
      template,
      stage,
      attempt,
      input,
      parameters: parameters as Job['parameters'],
      deadlineMs: time.deadlineMs,
      timeoutMs: time.timeoutMs,
    },
    progress: parseProgress(raw.progress),
    receivedAt,
    budgetMs: time.budgetMs,
  };
}

/** Validate a wire job; throws WorkerError VALIDATION_ERROR naming the bad field. */
export function parseJob(raw: unknown): Job {
  return parseJobEnvelope(raw).job;
}
