/**
 * Payloads by reference (SPEC section 6): a payload under 1 KiB travels
 * inline; a larger one is stored (compressed, at most `maxBytes`) and the
 * worker fetches it from GET /api/data/{ref_id} with its own token. Only the
 * worker the request was dispatched to may read it, until it expires (24 h by
 * default); expired references are swept.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { Store } from '../store/store.ts';

/** The v2 protocol's reference object. */
export interface PayloadRef {
  readonly ref_id: string;
  readonly storage_type: 'inline' | 'reference';
  readonly inline_data?: unknown;
  readonly size_bytes: number;
  readonly expires_at?: string;
}

export interface ReferenceOptions {
  /** Payloads smaller than this travel inline. @default 1 KiB */
  readonly inlineMaxBytes: number;
  /** @default 24 hours */
  readonly ttlMs: number;
  /** Larger payloads are refused. @default 16 MiB */
  readonly maxBytes: number;
}

export const DEFAULT_REFERENCE_OPTIONS: ReferenceOptions = Object.freeze({ inlineMaxBytes: 1024, ttlMs: 24 * 3_600_000, maxBytes: 16 * 1024 * 1024 });

export class References {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #o: ReferenceOptions;

  constructor(store: Store, clock: Clock, opts: ReferenceOptions = DEFAULT_REFERENCE_OPTIONS) {
    this.#store = store;
    this.#clock = clock;
    this.#o = opts;
  }

  /** A reference to `value` for `worker`: inline when small, stored otherwise. */
  async make(requestId: string | null, worker: string, value: unknown): Promise<PayloadRef> {
    const size = Buffer.byteLength(JSON.stringify(value ?? null));
    const refId = `ref_${randomUUID()}`;
    if (size < this.#o.inlineMaxBytes) return { ref_id: refId, storage_type: 'inline', inline_data: value, size_bytes: size };
    if (size > this.#o.maxBytes) {
      throw new AllotError('PAYLOAD_TOO_LARGE', `A payload of ${size} bytes is more than references hold (${this.#o.maxBytes})`, { details: { size_bytes: size, limit_bytes: this.#o.maxBytes } });
    }
    const now = this.#clock.now();
    const expiresAt = now + this.#o.ttlMs;
    await this.#store.putRef({ refId, requestId, worker, value, sizeBytes: size, createdAt: now, expiresAt });
    return { ref_id: refId, storage_type: 'reference', size_bytes: size, expires_at: new Date(expiresAt).toISOString() };
  }

  /** The payload, for the worker it belongs to. Another worker's or an expired reference is not found. */
  async read(refId: string, worker: string): Promise<unknown> {
    const r = await this.#store.getRef(refId, this.#clock.now());
    if (!r || r.worker !== worker) throw new AllotError('NOT_FOUND', `No reference ${refId} for worker "${worker}" (unknown, expired, or another worker's)`);
    return r.value;
  }

  sweep(): Promise<number> {
    return this.#store.sweepRefs(this.#clock.now());
  }
}
