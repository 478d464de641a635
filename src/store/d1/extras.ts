/**
 * The smaller tables on D1, with the SQLite store's SQL and codecs: shadow
 * comparisons (migration from v2), the result cache, refs (payloads by
 * reference) and alerts (at most one open per kind and subject).
 */
import type { AlertCondition, AlertRecord } from '../../core/alert-state.ts';
import { AllotError } from '../../core/errors.ts';
import type { WorkRequest } from '../../model.ts';
import type { CachedResult, ShadowResult, ShadowSummary, StoredRef } from '../store.ts';
import { alertsQuery, INSERT_ALERT, LIST_OPEN, RESOLVE_OPEN, SELECT_OPEN, toAlert, UPDATE_OPEN } from '../sqlite/alerts.ts';
import { cacheParams, PURGE, SELECT_LIVE as CACHE_LIVE, toCached, UPSERT as CACHE_UPSERT } from '../sqlite/cache.ts';
import { DELETE_EXPIRED, INSERT_REF, SELECT_LIVE as REF_LIVE, toRef } from '../sqlite/refs.ts';
import { packJson, toRequest } from '../sqlite/rows.ts';
import { DELETE_PENDING, INSERT_PENDING, INSERT_RESULT, LIST_PENDING, SELECT_COPY, SELECT_DIFFERENCES, shadowQuery, summarizeShadow, toShadowResult } from '../sqlite/shadow.ts';
import type { D1Ctx } from './context.ts';

export async function beginShadow(c: D1Ctx, requestId: string, at: number): Promise<void> {
  await c.run(INSERT_PENDING, requestId, at);
}

export async function pendingShadows(c: D1Ctx): Promise<string[]> {
  return (await c.all(LIST_PENDING)).map((r) => r.request_id as string);
}

export async function dropShadow(c: D1Ctx, requestId: string): Promise<void> {
  await c.run(DELETE_PENDING, requestId);
}

export async function findShadowCopy(c: D1Ctx, primaryId: string): Promise<WorkRequest | null> {
  const r = await c.first(SELECT_COPY, primaryId);
  return r ? toRequest(r) : null;
}

/** Stores a comparison and ends the request's pending mark, together. */
export async function recordShadow(c: D1Ctx, r: ShadowResult): Promise<void> {
  await c.batch([
    c.stmt(DELETE_PENDING, r.requestId),
    c.stmt(INSERT_RESULT, r.at, r.requestId, r.template, r.primary, JSON.stringify(r.differences), JSON.stringify(r.allot), JSON.stringify(r.v2)),
  ]);
}

export async function listShadow(c: D1Ctx, f: { readonly limit?: number; readonly afterSeq?: number; readonly differencesOnly?: boolean }): Promise<ShadowResult[]> {
  const { sql, args } = shadowQuery(f);
  return (await c.all(sql, ...args)).map(toShadowResult);
}

export async function shadowSummary(c: D1Ctx): Promise<ShadowSummary> {
  return summarizeShadow(await c.all(SELECT_DIFFERENCES));
}

export async function lookupCache(c: D1Ctx, key: string, now: number): Promise<CachedResult | null> {
  const r = await c.first(CACHE_LIVE, key, now);
  return r ? toCached(key, r) : null;
}

export async function storeCache(c: D1Ctx, e: CachedResult): Promise<void> {
  await c.run(CACHE_UPSERT, ...cacheParams(e, c.compressMin));
}

/** Removes a template's entries and every expired one; returns how many, audited as an admin action. */
export async function purgeCache(c: D1Ctx, template: string, now: number, actor: string): Promise<number> {
  // The count goes in the audit row, so the delete comes first and the audit row reads changes().
  const [r] = await c.batch([
    c.stmt(PURGE, template, now),
    c.stmt(
      "INSERT INTO audit (at, request_id, client_id, kind, from_state, to_state, actor, data) SELECT ?, NULL, NULL, 'admin', NULL, NULL, ?, json_object('action', 'cache:purge', 'template', ?, 'removed', changes())",
      Date.now(), actor, template,
    ),
  ]);
  return r?.meta.changes ?? 0;
}

export async function putRef(c: D1Ctx, r: StoredRef): Promise<void> {
  await c.run(INSERT_REF, r.refId, r.requestId, r.worker, packJson(r.value, c.compressMin), r.sizeBytes, r.createdAt, r.expiresAt);
}

export async function getRef(c: D1Ctx, refId: string, now: number): Promise<StoredRef | null> {
  const r = await c.first(REF_LIVE, refId, now);
  return r ? toRef(refId, r) : null;
}

export async function sweepRefs(c: D1Ctx, now: number): Promise<number> {
  return c.run(DELETE_EXPIRED, now);
}

export async function openAlerts(c: D1Ctx): Promise<AlertRecord[]> {
  return (await c.all(LIST_OPEN)).map(toAlert);
}

/**
 * Opens an alert for the condition, or returns the one already open for its
 * kind and subject: the insert applies only if none is open, in the same
 * statement, so two instances firing at once open one.
 */
export async function fireAlert(c: D1Ctx, a: AlertCondition, at: number): Promise<AlertRecord> {
  for (let round = 0; round < 5; round++) {
    try {
      const created = await c.first(FIRE, a.kind, a.subject, a.severity, a.message, a.value, at, at, a.kind, a.subject);
      if (created) return toAlert(created);
    } catch (err) {
      // Another instance opened it between this statement's check and its insert (the index of open alerts).
      if (!/UNIQUE constraint failed: alerts\./i.test(String((err as Error)?.message ?? err))) throw err;
    }
    const open = await c.first(SELECT_OPEN, a.kind, a.subject);
    if (open) return toAlert(open);
    // Resolved between the two: open a new one.
  }
  throw new AllotError('INTERNAL_ERROR', `Alert ${a.kind} on ${a.subject} kept opening and resolving while it was fired`);
}

/** INSERT_ALERT only if none is open for the kind and subject. */
const FIRE = INSERT_ALERT.replace(/VALUES \(([^)]*)\) RETURNING \*$/, 'SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE kind = ? AND subject = ? AND resolved_at IS NULL) RETURNING *');

export async function updateAlert(c: D1Ctx, id: number, a: AlertCondition, at: number): Promise<AlertRecord | null> {
  const r = await c.first(UPDATE_OPEN, a.severity, a.message, a.value, at, id);
  return r ? toAlert(r) : null;
}

export async function resolveAlert(c: D1Ctx, id: number, at: number): Promise<AlertRecord | null> {
  const r = await c.first(RESOLVE_OPEN, at, at, id);
  return r ? toAlert(r) : null;
}

export async function listAlerts(c: D1Ctx, f: { readonly state?: 'firing' | 'resolved' | undefined; readonly limit?: number | undefined; readonly before?: number | undefined }): Promise<AlertRecord[]> {
  const { sql, args } = alertsQuery(f);
  return (await c.all(sql, ...args)).map(toAlert);
}

