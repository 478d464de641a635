/**
 * One token bucket (one pool of one resource) as a Durable Object: its
 * level and the time refill is credited to, in the object's storage. The
 * object handles one request at a time and its storage writes are
 * transactional, so every take is exact under any concurrency: 200 takes at
 * once on a bucket of 100 admit exactly 100.
 *
 * The caller (src/limiter/durable/durable-limiter.ts) sends the pool's
 * capacity and refill with every call, as the Redis limiter does: the
 * configuration stays with Allot. A bucket never seen starts full; a
 * lowered capacity cuts the level. Time is the object's clock, never
 * earlier than the latest time it used. The arithmetic is the core's
 * (src/core/token-bucket.ts).
 *
 * POST { op, pool: { capacity, refillPerS }, amount?, level? } answers
 * { now, level, updatedAt, got? }:
 *   read   the state, refilled to now (a cut capacity is written)
 *   take   up to `amount`, as much as is there (`got`); never below 0
 *   give   `amount` back, up to capacity
 *   debit  `amount` of overuse, down to −capacity
 *   set    the level (an operator's reset)
 */
import { debit, fullBucket, giveBack, refill, setLevel, type BucketSpec, type BucketState } from '../core/token-bucket.ts';
import { reply, type DurableState } from './durable.ts';

interface Saved extends BucketState {
  /** The latest time an operation used. */
  readonly high: number;
}

interface Call {
  readonly op: 'read' | 'take' | 'give' | 'debit' | 'set';
  readonly pool: BucketSpec;
  readonly amount?: number;
  readonly level?: number;
}

const OPS = new Set(['read', 'take', 'give', 'debit', 'set']);

function finite(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** What is wrong with a call, or null. */
export function callError(c: Partial<Call>): string | null {
  if (!c.op || !OPS.has(c.op)) return `op must be one of ${[...OPS].join(', ')}`;
  if (!c.pool || !finite(c.pool.capacity) || c.pool.capacity <= 0 || !finite(c.pool.refillPerS) || c.pool.refillPerS < 0) return 'pool needs a capacity > 0 and a refillPerS ≥ 0';
  if (c.op !== 'read' && c.op !== 'set' && (!finite(c.amount) || c.amount < 0)) return 'amount must be a finite number ≥ 0';
  if (c.op === 'set' && !finite(c.level)) return 'level must be a finite number';
  return null;
}

/** The state after `c`, at `now`, and what a take got. Pure. */
export function apply(saved: BucketState | undefined, c: Call, now: number): { next: BucketState; got?: number } {
  const spec = c.pool;
  let s = saved ?? fullBucket(spec, now);
  if (s.level > spec.capacity) s = { level: spec.capacity, updatedAt: s.updatedAt };
  switch (c.op) {
    case 'read':
      return { next: s };
    case 'take': {
      const r = refill(spec, s, now);
      const got = Math.min(c.amount ?? 0, Math.max(0, r.level));
      return { next: { level: r.level - got, updatedAt: r.updatedAt }, got };
    }
    case 'give':
      return { next: giveBack(spec, s, c.amount ?? 0, now) };
    case 'debit':
      return { next: debit(spec, s, c.amount ?? 0, now) };
    case 'set':
      return { next: setLevel(spec, s, c.level ?? spec.capacity, now) };
  }
}

export class BucketObject {
  readonly #ctx: DurableState;
  #saved: Saved | undefined;
  #loaded = false;

  constructor(ctx: DurableState) {
    this.#ctx = ctx;
  }

  async fetch(request: Request): Promise<Response> {
    let c: Partial<Call>;
    try {
      c = (await request.json()) as Partial<Call>;
    } catch {
      return reply({ error: 'the body must be JSON' }, 400);
    }
    const bad = callError(c);
    if (bad) return reply({ error: bad }, 400);
    const call = c as Call;
    // From here to the write nothing waits on anything but this object's storage: no other call interleaves.
    if (!this.#loaded) {
      this.#saved = await this.#ctx.storage.get<Saved>('bucket');
      this.#loaded = true;
    }
    const now = Math.max(Date.now(), this.#saved?.high ?? -Infinity);
    const { next, got } = apply(this.#saved, call, now);
    const changed = !this.#saved || next.level !== this.#saved.level || next.updatedAt !== this.#saved.updatedAt || now !== this.#saved.high;
    if (changed && (call.op !== 'read' || !this.#saved || next.level !== this.#saved.level)) {
      this.#saved = { level: next.level, updatedAt: next.updatedAt, high: now };
      await this.#ctx.storage.put('bucket', this.#saved);
    }
    const shown = refill(call.pool, next, now);
    return reply({ now, level: shown.level, updatedAt: shown.updatedAt, ...(got === undefined ? {} : { got }) });
  }
}
