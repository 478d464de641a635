/**
 * What taking back one lost lease does to its request, the same for every
 * store (Store.reapExpiredLeases): the live dispatcher's own expired lease
 * counts as an attempt (its worker outlived the deadline); a lease whose
 * owner is gone (Allot stopped, crashed or was cut off) does not, and counts
 * as a recovery instead, up to `maxRecoveries`. Pure: the stores select and
 * lock the rows and apply the result through their transition.
 */
import type { State } from '../core/states.ts';

/** The columns read: state, lease_owner, attempts, max_attempts, recoveries. */
export type LeaseRow = Readonly<Record<string, unknown>>;

export interface LeaseRecovery {
  readonly to: State;
  readonly releaseHold: boolean;
  readonly set: Record<string, string | number | null>;
  readonly data: Record<string, unknown>;
}

export function leaseRecovery(r: LeaseRow, now: number, self: string | null, maxRecoveries: number): LeaseRecovery {
  const running = r.state === 'RUNNING';
  const counted = self !== null && r.lease_owner === self;
  const recoveries = Number(r.recoveries) + (counted ? 0 : 1);
  const exhausted = counted ? running && Number(r.attempts) >= Number(r.max_attempts) : recoveries > maxRecoveries;
  const error = counted
    ? { code: 'LEASE_EXPIRED', message: 'The worker did not answer before the lease ran out', retryable: true }
    : exhausted
      ? { code: 'LEASE_EXPIRED', message: `Allot stopped ${recoveries} times while running this request; given up after ${maxRecoveries} recoveries`, retryable: false }
      : { code: 'LEASE_EXPIRED', message: 'Allot stopped while running this request; it runs again (not counted as an attempt)', retryable: true };
  return {
    to: exhausted ? 'FAILED' : 'WAITING_RETRY',
    releaseHold: exhausted,
    set: {
      error: JSON.stringify(error), reserved: null, lease_owner: null, lease_expires_at: null, recoveries,
      ...(counted || !running ? {} : { attempts: Math.max(0, Number(r.attempts) - 1) }),
      ...(exhausted ? { completed_at: now } : { run_at: now }),
    },
    data: { reason: counted ? 'lease expired' : 'lease lost: its owner stopped', attempt_counted: counted, recoveries, owner: (r.lease_owner as string | null) ?? null },
  };
}
