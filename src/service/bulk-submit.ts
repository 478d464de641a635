/**
 * Bulk submission (POST /api/queue/enqueue/batch): up to 1,000 requests in
 * one call, each admitted exactly as a single submission would be (its own
 * validation, estimate, idempotency key and atomic budget hold), and
 * answered one result per item, in order. An item that is refused (invalid,
 * over budget, its key used with another body) gets its own error; the
 * others go on. Items are admitted side by side, so on SQLite they share
 * one group commit and the answer waits for it once.
 */
import type { z } from '@hono/zod-openapi';
import { AllotError } from '../core/errors.ts';
import type { Client, WorkRequest } from '../model.ts';
import type { Admission, SubmitBody } from './admission.ts';

export type BulkResult =
  | { readonly ok: true; readonly request: WorkRequest; readonly created: boolean }
  | { readonly ok: false; readonly error: AllotError };

/**
 * Admit each of `items` (raw JSON, checked here against `schema`) for `client`.
 * `toError` turns a schema failure into the VALIDATION_ERROR a single
 * submission would get, its fields prefixed with the item's place.
 */
export async function submitBulk<S extends z.ZodType<SubmitBody & { idempotency_key?: string | undefined }>>(
  admission: Admission, client: Client, items: readonly unknown[], schema: S, toError: (e: z.ZodError, where: string) => AllotError,
): Promise<BulkResult[]> {
  return Promise.all(items.map(async (raw, i): Promise<BulkResult> => {
    const parsed = schema.safeParse(raw);
    if (!parsed.success) return { ok: false, error: toError(parsed.error, `requests[${i}]`) };
    const { idempotency_key: key, ...body } = parsed.data;
    try {
      const { request, created } = await admission.submit(client, body, key);
      return { ok: true, request, created };
    } catch (err) {
      if (err instanceof AllotError && err.code !== 'INTERNAL_ERROR') return { ok: false, error: err };
      throw err;
    }
  }));
}
