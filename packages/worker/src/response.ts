import { WorkerError } from './errors.ts';

export interface TokenUsage {
  input: number;
  output: number;
}

export interface Usage {
  tokens: TokenUsage;
  resources: Record<string, number>;
  /** Handler wall time in milliseconds. */
  duration: number;
}

export interface ErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
}

export interface SuccessResponse<O = unknown> {
  success: true;
  output: O;
  usage: Usage;
  metadata: Record<string, unknown>;
}

export interface FailureResponse {
  success: false;
  error: ErrorInfo;
  /** What was consumed before the failure, so Allot can still account for it. */
  usage: Usage;
}

/** The body a worker answers with, on both transports. */
export type StandardResponse<O = unknown> = SuccessResponse<O> | FailureResponse;

/** A usage record with nothing consumed. */
export function emptyUsage(): Usage {
  return { tokens: { input: 0, output: 0 }, resources: {}, duration: 0 };
}

/** Build a failure response. */
export function failure(code: string, message: string, retryable: boolean, usage: Usage = emptyUsage()): FailureResponse {
  return { success: false, error: { code, message, retryable }, usage };
}

/** Map anything a handler threw to a failure: WorkerError keeps its code, anything else is a retryable crash. */
export function failureFromError(err: unknown, usage: Usage): FailureResponse {
  if (err instanceof WorkerError) return failure(err.code, err.message, err.retryable, usage);
  const message = err instanceof Error ? err.message : String(err);
  return failure('WORKER_ERROR', message || 'handler failed', true, usage);
}

/**
 * JSON for the wire; an output that cannot be serialized (cycle, BigInt) becomes a WORKER_ERROR instead of a
 * dropped answer, not retryable because the same handler would produce the same output again.
 */
export function serializeResponse(res: StandardResponse): string {
  try {
    return JSON.stringify(res);
  } catch (err) {
    const message = `handler output is not JSON-serializable: ${err instanceof Error ? err.message : String(err)}`;
    return JSON.stringify(failure('WORKER_ERROR', message, false, res.usage));
  }
}
