/**
 * The SPEC error envelope `{ success: false, error: { code, message, details } }`
 * for every failure: AllotError, schema validation, malformed JSON, unknown
 * routes and unexpected exceptions alike.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';
import { AllotError, ERROR_CATALOGUE, type ErrorCode } from '../core/errors.ts';

export function envelope(code: ErrorCode, message: string, details?: Record<string, unknown>): { success: false; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
  return { success: false, error: { code, message, ...(details ? { details } : {}) } };
}

export function errorResponse(c: Context, err: AllotError): Response {
  if (err.retryAfterS !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterS))));
  return c.json(envelope(err.code, err.message, err.details), err.status as 400);
}

/** zod issues → one message naming each bad field, and the list in details. */
export function validationError(error: z.ZodError, where: string, prefix?: string): AllotError {
  const fields = error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    if (i.code === 'unrecognized_keys') return { field: [path, ...i.keys].filter(Boolean).join('.'), message: 'unknown field' };
    return { field: path || where, message: i.message };
  });
  return new AllotError('VALIDATION_ERROR', fields.map((f) => `${f.field}: ${f.message}`).join('; '), { details: { in: where, fields } });
}

const BY_STATUS: Record<number, ErrorCode> = { 400: 'VALIDATION_ERROR', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE', 415: 'VALIDATION_ERROR' };

/** Any thrown value → AllotError, so `onError` has one shape to render. */
export function toAllotError(err: unknown): AllotError {
  if (err instanceof AllotError) return err;
  if (err instanceof HTTPException) {
    const code = BY_STATUS[err.status] ?? 'INTERNAL_ERROR';
    let msg = err.message || ERROR_CATALOGUE[code].message;
    if (err.status === 400 && /JSON/i.test(msg)) msg = 'body: not valid JSON';
    if (err.status === 415) msg = 'Content-Type must be application/json';
    return new AllotError(code, msg);
  }
  return new AllotError('INTERNAL_ERROR', 'Internal error', { cause: err });
}
