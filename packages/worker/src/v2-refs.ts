/**
 * Payload references of the Orchestrator 2.0 protocol (seed 001): a payload
 * under 1 KiB travels inline in its reference; a larger one is fetched by
 * `ref_id`. Inputs come from the orchestrator's GET /api/data/{ref_id}
 * (Bearer: the worker's token, X-Worker-ID: its name); outputs are kept here
 * and served by the worker's own GET /api/data/{ref_id} until acknowledged or
 * expired.
 */
import { randomUUID } from 'node:crypto';
import { WorkerError } from './errors.ts';
import { TtlMap } from './ttl-map.ts';

/** The v2 protocol's reference object. */
export interface PayloadRef {
  ref_id: string;
  storage_type: 'inline' | 'reference';
  inline_data?: unknown;
  size_bytes: number;
  expires_at?: string;
}

/** Payloads smaller than this travel inline (the seed's threshold). */
export const INLINE_MAX_BYTES = 1024;

/** Where and as whom input references are fetched. */
export interface RefSource {
  orchestratorUrl: string;
  workerName: string;
  token: string;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInline = (ref: Obj): boolean => ref.storage_type === 'inline' || (ref.storage_type === undefined && 'inline_data' in ref);

/** Why this worker cannot take `raw` as its input_ref, or null when it can (the handshake's ready/incompatible). */
export function inputRefProblem(raw: unknown, maxBytes: number): string | null {
  if (!isObject(raw)) return 'input_ref must be an object';
  if (isInline(raw)) return isObject(raw.inline_data) ? null : 'input_ref.inline_data must be a JSON object';
  if (typeof raw.ref_id !== 'string' || raw.ref_id.length === 0) return 'input_ref has neither inline_data nor a ref_id to fetch';
  if (typeof raw.size_bytes === 'number' && raw.size_bytes > maxBytes) return `input_ref is ${raw.size_bytes} bytes, more than this worker accepts (${maxBytes})`;
  return null;
}

/** The payload `raw` stands for: its inline data, or what the orchestrator serves for its ref_id. */
export async function resolveInputRef(raw: unknown, source: RefSource, signal: AbortSignal, maxBytes: number): Promise<unknown> {
  const problem = inputRefProblem(raw, maxBytes);
  if (problem !== null) throw WorkerError.invalidInput(problem);
  const ref = raw as Obj;
  if (isInline(ref)) return ref.inline_data;
  const refId = ref.ref_id as string;
  const url = `${source.orchestratorUrl.replace(/\/+$/, '')}/api/data/${encodeURIComponent(refId)}`;
  const fail = (message: string, retryable: boolean, cause?: unknown): WorkerError =>
    new WorkerError('REFERENCE_UNAVAILABLE', `input_ref ${refId} could not be fetched from ${url}: ${message}`, { retryable, cause });
  let r: Response;
  try {
    r = await fetch(url, { headers: { authorization: `Bearer ${source.token}`, 'x-worker-id': source.workerName }, signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw fail((err as Error).message, true, err);
  }
  const text = await readLimited(r, maxBytes, signal).catch((err: unknown) => {
    if (signal.aborted) throw signal.reason;
    throw err instanceof WorkerError ? err : fail((err as Error).message, true, err);
  });
  if (!r.ok) {
    // Allot answers its error envelope; show its message, it says which of token, name or reference was wrong.
    let detail = text.slice(0, 300);
    try {
      const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
      if (e && typeof e.message === 'string') detail = `${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message}`;
    } catch {
      // Not JSON: the raw text is the detail.
    }
    throw fail(`HTTP ${r.status}${detail ? ` (${detail})` : ''}`, r.status >= 500 || r.status === 429 || r.status === 408);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw fail('the answer is not JSON', false);
  }
}

async function readLimited(r: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  if (r.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of r.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await r.body.cancel().catch(() => {});
      throw new WorkerError('PAYLOAD_TOO_LARGE', `input reference is more than ${maxBytes} bytes`, { retryable: false });
    }
    if (signal.aborted) throw signal.reason;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Outputs of 1 KiB or more, kept for the orchestrator to read back from GET /api/data/{ref_id}. */
export class OutputStore {
  readonly #byRef: TtlMap<string, string>;
  readonly #refsOfPacket: TtlMap<string, string>;

  constructor(ttlMs: number) {
    this.#byRef = new TtlMap(ttlMs);
    this.#refsOfPacket = new TtlMap(ttlMs);
  }

  /** The output_ref for a packet's output: inline when small, stored otherwise. Throws when it is not JSON-serializable. */
  put(packetId: string, output: unknown): PayloadRef {
    let text: string;
    try {
      text = JSON.stringify(output ?? null);
    } catch (err) {
      throw new WorkerError('WORKER_ERROR', `handler output is not JSON-serializable: ${(err as Error).message}`, { retryable: false });
    }
    const size = Buffer.byteLength(text);
    const refId = `ref_${randomUUID()}`;
    if (size < INLINE_MAX_BYTES) return { ref_id: refId, storage_type: 'inline', inline_data: output ?? null, size_bytes: size };
    this.free(packetId); // a re-processed packet replaces its earlier output
    const expiresAt = this.#byRef.set(refId, text);
    this.#refsOfPacket.set(packetId, refId);
    return { ref_id: refId, storage_type: 'reference', size_bytes: size, expires_at: new Date(expiresAt).toISOString() };
  }

  /** The stored JSON text of a reference, or undefined when unknown, freed or expired. */
  read(refId: string): string | undefined {
    return this.#byRef.get(refId);
  }

  /** Forget a packet's stored output (it was acknowledged). */
  free(packetId: string): void {
    const refId = this.#refsOfPacket.get(packetId);
    if (refId === undefined) return;
    this.#byRef.delete(refId);
    this.#refsOfPacket.delete(packetId);
  }

  get size(): number {
    return this.#byRef.size;
  }
}
