/**
 * The Limiter on Cloudflare Durable Objects (issue 12): each bucket (one
 * pool of one resource) is one object (src/cf/bucket-object.ts), exact
 * under concurrency; live grants are kept in a few grant objects
 * (src/cf/grants-object.ts), by hash of the grant id, so that take, settle
 * and release are idempotent across instances and restarts.
 *
 * A take begins its grant, then takes each resource's amount from its
 * pools in draw order (src/core/pools.ts), each bucket giving what it has;
 * if a resource comes up short, everything taken is given back and the
 * grant aborted: all or nothing, as the contract says, though for the
 * moment between the two another take may find those units gone (it is
 * refused or waits; nothing is ever admitted beyond a bucket's level).
 * Settle and release end the grant (once), then move units as the local
 * ledger would (src/limiter/settlement.ts).
 *
 * Time is each object's clock. Views (levels, poolLevels, check) come from
 * what the objects last answered (src/limiter/snapshot.ts), refilled.
 * An object that cannot be reached fails closed: the operation rejects as
 * unavailable (503 QUEUE_BACKUP), nothing is granted; a take that failed
 * midway leaves what it took taken until refill (the safe side, as expire).
 */
import { AllotError, unavailable } from '../../core/errors.ts';
import { drawOrder, type Pool } from '../../core/pools.ts';
import type { DurableNamespaceLike, DurableStubLike } from '../../cf/durable.ts';
import { waitToDraw } from '../draw.ts';
import type { Amounts, CheckResult, DrawContext, LimitedResource, Limiter, PoolLevel, ResourceLevel, TakeResult } from '../limiter.ts';
import { PoolTable } from '../pool-table.ts';
import { settlementMoves } from '../settlement.ts';
import { Snapshot } from '../snapshot.ts';
import { checkAmounts, checkGrantId, checkLevel, checkTtl } from '../validate.ts';

export interface DurableLimiterOptions {
  /** The BucketObject namespace. */
  readonly buckets: DurableNamespaceLike;
  /** The GrantsObject namespace. */
  readonly grants: DurableNamespaceLike;
  readonly resources: Iterable<LimitedResource>;
  /** Names the objects of this deployment (tests use a fresh one each). @default 'allot:' */
  readonly prefix?: string;
  /** How many grant objects share the grants. @default 8 */
  readonly grantShards?: number;
}

interface BucketReply {
  readonly now: number;
  readonly level: number;
  readonly updatedAt: number;
  readonly got?: number;
}

/** How long a take waits for another take of the same grant id to finish. */
const PENDING_WAIT_MS = 5_000;

/** FNV-1a: a grant id's shard. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class DurableLimiter implements Limiter {
  readonly capabilities = Object.freeze({ shared: true });
  readonly #buckets: DurableNamespaceLike;
  readonly #grants: DurableNamespaceLike;
  readonly #prefix: string;
  readonly #shards: number;
  readonly #stubs = new Map<string, DurableStubLike>();
  readonly #snapshot = new Snapshot();
  #table: PoolTable;
  #closed = false;

  private constructor(o: DurableLimiterOptions) {
    this.#buckets = o.buckets;
    this.#grants = o.grants;
    this.#prefix = o.prefix ?? 'allot:';
    this.#shards = Math.max(1, o.grantShards ?? 8);
    this.#table = new PoolTable(o.resources);
  }

  /** Open on the buckets' current levels (read from their objects). */
  static async open(o: DurableLimiterOptions): Promise<DurableLimiter> {
    const l = new DurableLimiter(o);
    await l.refresh();
    return l;
  }

  async #call<T>(ns: DurableNamespaceLike, name: string, body: Record<string, unknown>): Promise<T> {
    if (this.#closed) throw unavailable('limiter', 'The limiter is closed', { retryAfterS: 1 });
    let stub = this.#stubs.get(name);
    if (!stub) {
      stub = ns.get(ns.idFromName(name));
      this.#stubs.set(name, stub);
    }
    let res: Awaited<ReturnType<DurableStubLike['fetch']>>;
    try {
      res = await stub.fetch('https://limiter.allot/', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    } catch (err) {
      throw unavailable('limiter', `The Durable Object ${name} could not be reached: ${(err as Error).message}`, { retryAfterS: 1, cause: err });
    }
    if (!res.ok) throw new AllotError('INTERNAL_ERROR', `The Durable Object ${name} refused ${String(body.op)}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  #bucket(p: Pool, body: Record<string, unknown>): Promise<BucketReply> {
    return this.#call<BucketReply>(this.#buckets, `${this.#prefix}bucket:${p.key}`, { ...body, pool: { capacity: p.capacity, refillPerS: p.refillPerS } }).then((r) => {
      this.#snapshot.set(p.key, { level: r.level, updatedAt: r.updatedAt }, r.now);
      return r;
    });
  }

  #grant<T>(grantId: string, body: Record<string, unknown>): Promise<T> {
    return this.#call<T>(this.#grants, `${this.#prefix}grants:${hash(grantId) % this.#shards}`, { ...body, id: grantId });
  }

  async take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number): Promise<TakeResult> {
    checkGrantId(grantId);
    checkAmounts('needs', needs);
    checkTtl(ttlMs);
    const until = performance.now() + PENDING_WAIT_MS;
    for (;;) {
      const b = await this.#grant<{ state: string; taken?: Amounts }>(grantId, { op: 'begin', ttlMs });
      if (b.state === 'live') return { ok: true, taken: b.taken ?? {} };
      if (b.state === 'begun') break;
      // Another take of this grant is under way: its answer is the answer.
      if (performance.now() > until) throw unavailable('limiter', `Another take of grant ${grantId} did not finish`, { retryAfterS: 1 });
      await new Promise((r) => setTimeout(r, 5));
    }
    // A failure midway leaves the grant to expire and what was taken to refill (the safe side).
    const taken: Record<string, number> = {};
    for (const [name, amount] of Object.entries(needs)) {
      const pools = this.#table.pools(name);
      if (!pools || amount <= 0) continue;
      const order = drawOrder(pools, ctx.who, ctx.ownerWaiting);
      let rest = amount;
      for (const p of order) {
        if (rest <= 1e-12) break;
        const r = await this.#bucket(p, { op: 'take', amount: rest });
        if ((r.got ?? 0) > 0) {
          taken[p.key] = (taken[p.key] ?? 0) + (r.got as number);
          rest -= r.got as number;
        }
      }
      if (rest > 1e-9) {
        await this.#giveBack(taken);
        await this.#grant(grantId, { op: 'abort' });
        const wait = waitToDraw(order, (p) => this.#snapshot.state(p), amount, this.#snapshot.serverNow());
        return { ok: false, resource: name, needed: amount, waitMs: wait ?? 0 };
      }
    }
    await this.#grant(grantId, { op: 'commit', taken });
    return { ok: true, taken };
  }

  async #giveBack(taken: Amounts): Promise<void> {
    await Promise.all(Object.entries(taken).map(([key, amount]) => {
      const p = this.#table.byKey(key);
      return p ? this.#bucket(p, { op: 'give', amount }) : undefined;
    }));
  }

  /** End a grant: what it took, or null when it is not live (never taken, ended, expired, or a take still under way). */
  async #end(grantId: string): Promise<Amounts | null> {
    const r = await this.#grant<{ state: string; taken?: Amounts }>(grantId, { op: 'end' });
    return r.state === 'ended' ? (r.taken ?? {}) : null;
  }

  async settle(grantId: string, used: Amounts): Promise<boolean> {
    checkGrantId(grantId);
    checkAmounts('used', used);
    const taken = await this.#end(grantId);
    if (taken === null) return false;
    // A pool no longer configured has no bucket to move: what it took is lost, as the ledger does.
    await Promise.all(settlementMoves(taken, used, (r) => this.#table.pools(r)?.[0]?.key).map((m) => {
      const p = this.#table.byKey(m.key);
      return p ? this.#bucket(p, { op: m.kind, amount: m.amount }) : undefined;
    }));
    return true;
  }

  async release(grantId: string): Promise<boolean> {
    checkGrantId(grantId);
    const taken = await this.#end(grantId);
    if (taken === null) return false;
    await this.#giveBack(taken);
    return true;
  }

  async expire(): Promise<number> {
    const all = await Promise.all(Array.from({ length: this.#shards }, (_, i) =>
      this.#call<{ expired: string[] }>(this.#grants, `${this.#prefix}grants:${i}`, { op: 'expire' })));
    return all.reduce((n, r) => n + r.expired.length, 0);
  }

  async reset(resource: string, level?: number): Promise<number | null> {
    checkLevel(level);
    const pools = this.#table.pools(resource);
    if (!pools) return null;
    const before = await Promise.all(pools.map((p) => this.#bucket(p, { op: 'read' })));
    const was = before.reduce((a, r) => a + r.level, 0);
    const capacity = pools.reduce((a, p) => a + p.capacity, 0);
    await Promise.all(pools.map((p) => this.#bucket(p, { op: 'set', level: level === undefined ? p.capacity : (level * p.capacity) / capacity })));
    return was;
  }

  async configure(resources: Iterable<LimitedResource>): Promise<void> {
    this.#table = new PoolTable(resources);
    await this.refresh();
  }

  levels(): Map<string, ResourceLevel> {
    return this.#snapshot.levels(this.#table);
  }

  poolLevels(resource: string): PoolLevel[] {
    return this.#snapshot.poolLevels(this.#table, resource);
  }

  hasPools(resource: string): boolean {
    return this.#table.hasPools(resource);
  }

  check(needs: Amounts, ctx: DrawContext): CheckResult {
    return this.#snapshot.check(this.#table, needs, ctx);
  }

  async refresh(): Promise<void> {
    const all: Pool[] = [];
    for (const [, pools] of this.#table.resources()) all.push(...pools);
    await Promise.all(all.map((p) => this.#bucket(p, { op: 'read' })));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
