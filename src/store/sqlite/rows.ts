/** Row ↔ entity conversion for the SQLite store. */
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import type { AuditEntry, Client, WorkRequest } from '../../model.ts';
import type { State } from '../../core/states.ts';
import type { Urgency } from '../../core/priority.ts';
import type { QueueClass } from '../../core/run-queue.ts';

type Row = Record<string, unknown>;

/**
 * Payload compression (SPEC section 5): a JSON value of at least
 * COMPRESS_MIN_BYTES is stored as a zstd-compressed BLOB, anything smaller
 * as TEXT. SQLite keeps each value's own type, so reads tell them apart.
 */
export const COMPRESS_MIN_BYTES = 4096;

/** @param minBytes compress from this size; 0 turns compression off. @default COMPRESS_MIN_BYTES */
export function packJson(v: unknown, minBytes: number = COMPRESS_MIN_BYTES): string | Uint8Array {
  const text = JSON.stringify(v ?? null);
  return minBytes > 0 && text.length >= minBytes ? zstdCompressSync(Buffer.from(text, 'utf8')) : text;
}

const json = (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return JSON.parse(zstdDecompressSync(v).toString('utf8'));
  return JSON.parse(v as string);
};
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function toClient(r: Row): Client {
  return {
    id: r.id as string,
    name: r.name as string,
    tier: r.tier as string,
    monthlyBudgetUsd: num(r.monthly_budget_usd),
    maxConcurrent: num(r.max_concurrent),
    ...(r.optimizations ? { optimizations: json(r.optimizations) as Client['optimizations'] } : {}),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export { json as unpackJson };

export function toRequest(r: Row): WorkRequest {
  return {
    id: r.id as string,
    clientId: r.client_id as string,
    template: r.template as string,
    state: r.state as State,
    urgency: r.urgency as Urgency,
    klass: Number(r.klass) as QueueClass,
    basePoints: Number(r.base_points),
    priority: json(r.priority) as WorkRequest['priority'],
    model: (r.model as string | null) ?? undefined,
    maxTokens: Number(r.max_tokens),
    input: json(r.input),
    parameters: json(r.parameters) as Record<string, unknown>,
    policy: json(r.policy) as WorkRequest['policy'],
    estimate: json(r.estimate) as WorkRequest['estimate'],
    holdNano: Number(r.hold_nano),
    period: r.period as string,
    reserved: json(r.reserved) as WorkRequest['reserved'],
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    leaseToken: Number(r.lease_token),
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresAt: num(r.lease_expires_at),
    deadlineAt: num(r.deadline_at),
    runAt: num(r.run_at),
    progress: json(r.progress) as WorkRequest['progress'],
    output: json(r.output),
    error: json(r.error) as WorkRequest['error'],
    usage: json(r.usage) as WorkRequest['usage'],
    costNano: Number(r.cost_nano),
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    bodyHash: (r.body_hash as string | null) ?? null,
    optimization: json(r.optimization) as WorkRequest['optimization'],
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    startedAt: num(r.started_at),
    completedAt: num(r.completed_at),
    ...(r.system === 'v2' ? { system: 'v2' as const } : {}),
    ...(r.external_id ? { externalId: r.external_id as string } : {}),
    ...(r.shadow_of ? { shadowOf: r.shadow_of as string } : {}),
    ...(r.pipeline ? { pipeline: json(r.pipeline) as WorkRequest['pipeline'] } : {}),
  };
}

/** Index of the input column among requestParams. */
export const INPUT_PARAM = 10;

/** Parameters for INSERT INTO requests, in column order of INSERT_REQUEST. */
export function requestParams(q: WorkRequest, compressMin: number = COMPRESS_MIN_BYTES): (string | number | null | Uint8Array)[] {
  const s = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
  return [
    q.id, q.clientId, q.template, q.state, q.urgency, q.klass, q.basePoints, JSON.stringify(q.priority), q.model ?? null,
    q.maxTokens, packJson(q.input, compressMin), JSON.stringify(q.parameters), JSON.stringify(q.policy), JSON.stringify(q.estimate), q.holdNano, q.period,
    s(q.reserved), q.attempts, q.maxAttempts, q.leaseToken, q.leaseOwner, q.leaseExpiresAt, q.deadlineAt, q.runAt,
    s(q.progress), q.output === null || q.output === undefined ? null : packJson(q.output, compressMin), s(q.error), s(q.usage), q.costNano, q.idempotencyKey, q.bodyHash, q.createdAt, q.updatedAt,
    q.startedAt, q.completedAt, s(q.optimization), q.system ?? 'allot', q.externalId ?? null, q.shadowOf ?? null, s(q.pipeline),
  ];
}

export const INSERT_REQUEST = `INSERT INTO requests (id, client_id, template, state, urgency, klass, base_points, priority, model,
  max_tokens, input, parameters, policy, estimate, hold_nano, period, reserved, attempts, max_attempts, lease_token, lease_owner,
  lease_expires_at, deadline_at, run_at, progress, output, error, usage, cost_nano, idempotency_key, body_hash, created_at,
  updated_at, started_at, completed_at, optimization, system, external_id, shadow_of, pipeline) VALUES (${Array.from({ length: 40 }, () => '?').join(', ')})`;

export function toAudit(r: Row): AuditEntry {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    requestId: (r.request_id as string | null) ?? null,
    clientId: (r.client_id as string | null) ?? null,
    kind: r.kind as AuditEntry['kind'],
    from: (r.from_state as string | null) ?? null,
    to: (r.to_state as string | null) ?? null,
    actor: r.actor as string,
    data: json(r.data) as AuditEntry['data'],
  };
}
