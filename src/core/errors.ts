/**
 * The one catalogue of error codes. Every layer (store, scheduler, transports,
 * HTTP) raises `AllotError` with one of these codes; the HTTP layer maps it to
 * the SPEC envelope `{ success: false, error: { code, message, details } }`.
 * Codes are stable: clients branch on them.
 */
export const ERROR_CATALOGUE = Object.freeze({
  VALIDATION_ERROR: { status: 400, retryable: false, message: 'The request is invalid' },
  UNAUTHORIZED: { status: 401, retryable: false, message: 'Missing or invalid credentials' },
  BUDGET_EXCEEDED: { status: 402, retryable: false, message: 'The estimate does not fit the remaining budget' },
  FORBIDDEN: { status: 403, retryable: false, message: 'Not allowed for these credentials' },
  NOT_FOUND: { status: 404, retryable: false, message: 'Not found' },
  CONFLICT: { status: 409, retryable: false, message: 'Conflicts with the current state' },
  REQUEST_TIMEOUT: { status: 408, retryable: true, message: 'The request did not finish in time' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, message: 'The payload is too large' },
  IDEMPOTENCY_MISMATCH: { status: 422, retryable: false, message: 'Idempotency-Key was used with a different body' },
  INSUFFICIENT_RESOURCES: { status: 429, retryable: true, message: 'Not enough capacity available now' },
  INTERNAL_ERROR: { status: 500, retryable: true, message: 'Internal error' },
  WORKER_ERROR: { status: 502, retryable: true, message: 'The worker failed' },
  WORKER_UNAVAILABLE: { status: 502, retryable: true, message: 'The worker could not be reached' },
  /** The queue is full, or a service Allot depends on (the database, Redis) cannot be reached: see `unavailable()`. */
  QUEUE_BACKUP: { status: 503, retryable: true, message: 'Allot cannot take this now; retry later' },
  CANCELLED: { status: 409, retryable: false, message: 'The request was cancelled' },
  REFERENCE_EXPIRED: { status: 410, retryable: false, message: 'A payload reference has expired' },
  LEASE_LOST: { status: 409, retryable: false, message: 'The lease on this request is no longer held' },
  CONFIG_ERROR: { status: 500, retryable: false, message: 'The configuration is invalid' },
} as const);

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AllotError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds; sent as Retry-After on 429/503. */
  readonly retryAfterS: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    opts: { details?: Record<string, unknown>; retryAfterS?: number; cause?: unknown } = {},
  ) {
    const entry = ERROR_CATALOGUE[code];
    super(message ?? entry.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AllotError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.details = opts.details;
    this.retryAfterS = opts.retryAfterS;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

/**
 * A backing service (the database, Redis) cannot be reached. Clients see
 * SPEC's 503 `QUEUE_BACKUP` with Retry-After, and `details.unavailable`
 * naming the service: Allot fails closed (nothing is granted, nothing
 * accepted is lost) and the caller comes back later. Inside Allot,
 * `isUnavailable` tells this from a full queue.
 */
export function unavailable(service: 'postgres' | 'redis' | 'limiter', message: string, opts: { retryAfterS: number; cause?: unknown; details?: Record<string, unknown> }): AllotError {
  return new AllotError('QUEUE_BACKUP', message, { retryAfterS: opts.retryAfterS, cause: opts.cause, details: { unavailable: service, ...opts.details } });
}

export function isUnavailable(err: unknown): err is AllotError {
  return err instanceof AllotError && err.code === 'QUEUE_BACKUP' && typeof err.details?.unavailable === 'string';
}
