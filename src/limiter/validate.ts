/**
 * Bad arguments to a Limiter are refused before anything is taken, with the
 * same VALIDATION_ERROR from every implementation (a NaN must never reach a
 * bucket: it would poison its level for good).
 */
import { AllotError } from '../core/errors.ts';
import type { Amounts } from './limiter.ts';

/** Longest grant id accepted (a request id and attempt, a reservation id). */
export const MAX_GRANT_ID_LENGTH = 256;

export function checkGrantId(grantId: string): void {
  if (typeof grantId !== 'string' || grantId.length === 0 || grantId.length > MAX_GRANT_ID_LENGTH) {
    throw new AllotError('VALIDATION_ERROR', `grantId: must be a string of 1 to ${MAX_GRANT_ID_LENGTH} characters`);
  }
}

export function checkAmounts(field: string, amounts: Amounts): void {
  for (const [name, v] of Object.entries(amounts)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new AllotError('VALIDATION_ERROR', `${field}.${name}: must be a finite number, 0 or more`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) throw new AllotError('VALIDATION_ERROR', 'ttlMs: must be a finite number of ms, more than 0');
}

export function checkLevel(level: number | undefined): void {
  if (level !== undefined && (typeof level !== 'number' || !Number.isFinite(level))) throw new AllotError('VALIDATION_ERROR', 'level: must be a finite number');
}
