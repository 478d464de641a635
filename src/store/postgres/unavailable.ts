/**
 * PostgreSQL out of reach (down, restarting, refusing connections, a
 * connection cut mid-query) becomes 503 QUEUE_BACKUP naming the database, with Retry-After:
 * the client retries later, and nothing it was told was accepted is lost,
 * since only committed work is ever acknowledged. Errors of the query
 * itself (a constraint, a bug) stay what they are.
 */
import { unavailable as unavailableError } from '../../core/errors.ts';

const NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** SQLSTATE: 08* connection exceptions; 57P01-57P03 shutdown and start-up; 53300 too many connections. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const MESSAGES = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /Client has encountered a connection error/i, /Connection ended/i];

export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NODE_CODES.has(code) || SQLSTATES.has(code) || code.startsWith('08'))) return true;
  return MESSAGES.some((m) => m.test(err.message));
}

/** The error to throw: QUEUE_BACKUP (`details.unavailable: 'postgres'`) for an unreachable database, else `err` itself. */
export function unavailable(err: unknown): unknown {
  if (!isUnavailable(err)) return err;
  return unavailableError('postgres', `The database cannot be reached (${(err as Error).message}); retry shortly`, { retryAfterS: 2 });
}
