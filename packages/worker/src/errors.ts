/** Error a handler throws to choose the failure code and whether Allot should retry. */
export class WorkerError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  /** `retryable` defaults to true: like a crash, an explicit failure is assumed transient unless the handler says otherwise. */
  constructor(code: string, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WorkerError';
    this.code = code;
    this.retryable = opts.retryable ?? true;
  }

  /** The job's input or parameters are unusable; retrying the same job cannot help. */
  static invalidInput(message: string): WorkerError {
    return new WorkerError('VALIDATION_ERROR', message, { retryable: false });
  }
}
