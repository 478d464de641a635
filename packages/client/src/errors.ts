/**
 * What a call can fail with, told apart by class:
 *
 * - `AllotError`: Allot answered with its error envelope. `code` is one of
 *   the stable codes below (branch on it, never on `message`).
 * - `AllotTimeoutError`: no answer within the client's `timeoutMs`.
 * - `AllotNetworkError`: no answer at all (refused, reset, DNS), the answer
 *   broke off, or something other than Allot answered (a proxy's HTML page).
 *
 * A call aborted through the caller's own `signal` rejects with that
 * signal's reason, as `fetch` does.
 */

/**
 * Allot's error catalogue (src/core/errors.ts in the server): each code's
 * HTTP status and whether trying again later can succeed. Copied, not
 * imported, so the client has no server dependency; a test in the Allot
 * repository fails when the two differ.
 */
export const ERROR_CODES = Object.freeze({
  VALIDATION_ERROR: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  BUDGET_EXCEEDED: { status: 402, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  CONFLICT: { status: 409, retryable: false },
  REQUEST_TIMEOUT: { status: 408, retryable: true },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  IDEMPOTENCY_MISMATCH: { status: 422, retryable: false },
  INSUFFICIENT_RESOURCES: { status: 429, retryable: true },
  INTERNAL_ERROR: { status: 500, retryable: true },
  WORKER_ERROR: { status: 502, retryable: true },
  WORKER_UNAVAILABLE: { status: 502, retryable: true },
  QUEUE_BACKUP: { status: 503, retryable: true },
  CANCELLED: { status: 409, retryable: false },
  REFERENCE_EXPIRED: { status: 410, retryable: false },
  LEASE_LOST: { status: 409, retryable: false },
  CONFIG_ERROR: { status: 500, retryable: false },
} as const);

/** The stable error codes Allot answers with. */
export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Allot answered `{ success: false, error: { code, message, details } }`. */
export class AllotError extends Error {
  override readonly name = 'AllotError';
  readonly code: ErrorCode;
  /** The HTTP status of the answer. */
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Whether the same call may succeed later (from the catalogue; a code this client does not know counts as not retryable). */
  readonly retryable: boolean;
  /** From Retry-After (429, 503): how long to wait before trying again, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** Allot's X-Request-Id for the call: what its access log names. */
  readonly requestId: string | undefined;

  constructor(init: { code: ErrorCode; status: number; message: string; details?: Record<string, unknown> | undefined; retryAfterMs?: number | undefined; requestId?: string | undefined }) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.details = init.details;
    this.retryable = isErrorCode(init.code) ? ERROR_CODES[init.code].retryable : false;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
  }
}

/** No usable answer: the connection failed or broke off, or the answer was not Allot's. */
export class AllotNetworkError extends Error {
  override readonly name: string = 'AllotNetworkError';
  /** The HTTP status when something did answer (not Allot's JSON), else undefined. */
  readonly status: number | undefined;

  constructor(message: string, opts: { cause?: unknown; status?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status;
  }
}

/** No answer within `timeoutMs`. */
export class AllotTimeoutError extends AllotNetworkError {
  override readonly name = 'AllotTimeoutError';
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number) {
    super(message);
    this.timeoutMs = timeoutMs;
  }
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP date names its day and month ("Sun, 06 Nov 1994 08:49:37 GMT"); Date.parse alone would take "-1" as a year.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
