/** Row ↔ entity conversion for the SQLite store. */
import { promisify } from 'node:util';
import { zstdCompressSync, zstdDecompress, zstdDecompressSync } from 'node:zlib';

const zstdDecompressAsync = promisify(zstdDecompress) as (b: Uint8Array) => Promise<Buffer>;
import { RAW_INPUT, type AuditEntry, type Client, type RawPayload, type WorkRequest } from '../../model.ts';
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

/** Like packJson, for a value already serialized to UTF-8 JSON (and perhaps compressed: `zstd`). */
export function packJsonBytes(json: Uint8Array, minBytes: number = COMPRESS_MIN_BYTES, zstd?: Uint8Array): string | Uint8Array {
  if (!(minBytes > 0 && json.length >= minBytes)) return Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
  const packed = zstd ?? zstdCompressSync(json);
  RAW_BYTES.set(packed, json.length);
  return packed;
}

/** The JSON bytes a compressed payload stands for (compression savings), without serializing it again. */
const RAW_BYTES = new WeakMap<Uint8Array, number>();

/** @param minBytes compress from this size; 0 turns compression off. @default COMPRESS_MIN_BYTES */
export function packJson(v: unknown, minBytes: number = COMPRESS_MIN_BYTES): string | Uint8Array {
  const text = JSON.stringify(v ?? null);
  if (!(minBytes > 0 && text.length >= minBytes)) return text;
  const raw = Buffer.from(text, 'utf8');
  const packed = zstdCompressSync(raw);
  RAW_BYTES.set(packed, raw.length);
  return packed;
}

/**
 * The decompressed size a zstd frame declares in its header (RFC 8878
 * 3.1.1.1: node:zlib writes it when compressing a whole buffer), or null.
 */
export function zstdContentSize(b: Uint8Array): number | null {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) return null;
  const fhd = b[4] as number;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3] as number;
  let at = 5 + (single ? 0 : 1) + dictBytes;
  const size = fcsFlag === 0 ? single : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (size === 0 || at + size > b.length) return null;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[at + i] as number);
  at += size;
  return fcsFlag === 1 ? v + 256 : v;
}

/** Bytes of JSON a value packed by packJson holds. */
export function rawBytes(packed: string | Uint8Array): number {
  return typeof packed === 'string' ? Buffer.byteLength(packed) : (RAW_BYTES.get(packed) ?? zstdContentSize(packed) ?? zstdDecompressSync(packed).length);
}

/**
 * Defines `key` on `o` as a value parsed from `raw` on first read. Inputs and
 * outputs can be megabytes (compressed); most reads of a request (every
 * transition returns it) never look at them, and parsing each time cost a
 * large input's submission tens of milliseconds of the event loop.
 */
function lazyJson(o: Record<string, unknown>, key: string, raw: unknown): void {
  if (raw === null || raw === undefined || (typeof raw === 'string' && raw.length < 256)) {
    o[key] = json(raw);
    return;
  }
  let parsed: unknown;
  let done = false;
  Object.defineProperty(o, key, {
    enumerable: true, configurable: true,
    get() {
      if (!done) {
        parsed = json(raw);
        done = true;
      }
      return parsed;
    },
  });
}

const json = (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return JSON.parse(zstdDecompressSync(v).toString('utf8'));
  return JSON.parse(v as string);
};
/** A nullable integer column as a number or null. */
export const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

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
  const req = {
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
    input: undefined as unknown,
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
    output: undefined as unknown,
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
    ...(Number(r.recoveries ?? 0) > 0 ? { recoveries: Number(r.recoveries) } : {}),
    ...(r.overuse ? { overuse: json(r.overuse) as WorkRequest['overuse'] } : {}),
  };
  lazyJson(req, 'input', r.input);
  lazyJson(req, 'output', r.output);
  const raw = r.input;
  if (raw instanceof Uint8Array || (typeof raw === 'string' && raw.length >= 4096)) {
    const payload: RawPayload = {
      approxBytes: raw instanceof Uint8Array ? (zstdContentSize(raw) ?? raw.length) : raw.length,
      bytes: () => (raw instanceof Uint8Array ? zstdDecompressAsync(raw) : Promise.resolve(Buffer.from(raw, 'utf8'))),
    };
    Object.defineProperty(req, RAW_INPUT, { value: payload, enumerable: false });
  }
  return req;
}

/** Index of the input column among requestParams. */
export const INPUT_PARAM = 10;

/** Parameters for INSERT INTO requests, in column order of INSERT_REQUEST. */
/** @param inputJson q.input already serialized (UTF-8 JSON), if the caller has it */
export function requestParams(q: WorkRequest, compressMin: number = COMPRESS_MIN_BYTES, inputJson?: Uint8Array, inputZstd?: Uint8Array): (string | number | null | Uint8Array)[] {
  const s = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));
  return [
    q.id, q.clientId, q.template, q.state, q.urgency, q.klass, q.basePoints, JSON.stringify(q.priority), q.model ?? null,
    q.maxTokens, inputJson ? packJsonBytes(inputJson, compressMin, inputZstd) : packJson(q.input, compressMin), JSON.stringify(q.parameters), JSON.stringify(q.policy), JSON.stringify(q.estimate), q.holdNano, q.period,
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
