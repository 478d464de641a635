/**
 * Errors from Redis as the limiter's callers see them: unreachable (refused,
 * timed out, connection lost, offline, loading, read-only replica) is
 * 503 QUEUE_BACKUP naming Redis, retryable, so the caller fails closed and
 * tells its client to come back; anything else Redis answers is a bug in a
 * script, INTERNAL_ERROR.
 */
import { AllotError, unavailable } from '../../core/errors.ts';

const UNAVAILABLE_REPLIES = /^(LOADING|READONLY|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;

/** `lastError`: the connection's latest error event, which says why (ECONNREFUSED…) when the rejection does not. */
export function redisError(err: unknown, address: string, lastError?: Error): AllotError {
  if (err instanceof AllotError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const scriptBug = e.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(e.message);
  if (scriptBug) return new AllotError('INTERNAL_ERROR', `Redis limiter script failed: ${e.message}`, { cause: e });
  const why = lastError && lastError.message !== e.message ? `${e.message} ${lastError.message}` : e.message;
  return unavailable('redis', `Redis at ${address} cannot be reached (${why}): the limiter grants nothing until it answers`, {
    cause: e,
    retryAfterS: 1,
    details: { address, reason: why },
  });
}
