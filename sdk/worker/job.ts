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
   * wanted: when the job arrived plus `timeoutMs`. From a sender that gives
   * no `timeout_ms` (an older orchestrator), its `deadline_ms` as sent (its
   * clock). null when the job has no deadline.
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

/**
 * Validate a wire job and split it into the handler's view and the progress target.
 * @param receivedAt performance.now() when it arrived (default: now)
 */
export function parseJobEnvelope(raw: unknown, receivedAt: number = performance.now()): JobEnvelope {
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

  const deadline = raw.deadline_ms;
  if (deadline !== undefined && deadline !== null && (typeof deadline !== 'number' || !Number.isFinite(deadline))) {
    throw invalid('deadline_ms', 'a number (epoch ms)');
  }
  const timeout = raw.timeout_ms;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
    throw invalid('timeout_ms', 'a number of milliseconds >= 0');
  }

  // The time left is a duration: counted from arrival on this machine's monotonic clock. Only without
  // one (an older sender) is the absolute deadline compared with this machine's wall clock.
  const now = Date.now();
  const timeoutMs = typeof timeout === 'number' ? timeout : null;
  const budgetMs = timeoutMs !== null ? timeoutMs : typeof deadline === 'number' ? deadline - now : null;
  return {
    job: {
      requestId,
      template,
      stage,
      attempt,
      input,
      parameters: parameters as Job['parameters'],
      deadlineMs: timeoutMs !== null ? now + timeoutMs : typeof deadline === 'number' ? deadline : null,
      timeoutMs,
    },
    progress: parseProgress(raw.progress),
    receivedAt,
    budgetMs,
  };
}

/** Validate a wire job; throws WorkerError VALIDATION_ERROR naming the bad field. */
export function parseJob(raw: unknown): Job {
  return parseJobEnvelope(raw).job;
}
