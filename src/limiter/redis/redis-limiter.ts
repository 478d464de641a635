/**
 * The Limiter shared by every Allot instance of a deployment, in Redis
 * (SPEC section 10): each operation is one Lua script (beside this file),
 * atomic on the server.
 *
 * - Time is the Redis server's (`TIME` inside the scripts), never the
 *   caller's, so instances with skewed clocks share one clock.
 * - Configuration stays here: the caller passes each pool's capacity and
 *   refill, and the draw order it computed (src/core/pools.ts), with every
 *   call; instances share the same configuration.
 * - Grants live in Redis, so take, settle and release are idempotent by
 *   grant id across instances and across a restart of this process.
 * - Losing Redis's data never lets a burst through (see epoch.ts).
 * - Unreachable Redis fails fast and closed: no offline queue, no retry of
 *   a command after a reconnect, a command timeout; the operation rejects
 *   as unavailable (503 QUEUE_BACKUP naming Redis). ioredis reconnects in the background.
 */
import { Redis } from 'ioredis';
import { AllotError, unavailable } from '../../core/errors.ts';
import { drawOrder, resourceOfKey, type Pool } from '../../core/pools.ts';
import type { Amounts, CheckResult, DrawContext, LimitedResource, Limiter, PoolLevel, ResourceLevel, TakeResult } from '../limiter.ts';
import { PoolTable } from '../pool-table.ts';
import { checkAmounts, checkGrantId, checkLevel, checkTtl } from '../validate.ts';
import type { EpochRecord } from './epoch.ts';
import { DEFAULT_PREFIX, limiterKeys, type LimiterKeys } from './keys.ts';
import { defineScripts, runScript, type ScriptName } from './scripts.ts';
import { Snapshot } from '../snapshot.ts';
import { redisError } from './unavailable.ts';

export interface RedisLimiterOptions {
  /** e.g. redis://127.0.0.1:6379 */
  readonly url: string;
  readonly resources: Iterable<LimitedResource>;
  /** Where the deployment records the epoch it saw (the Store's settings). */
  readonly epochs: EpochRecord;
  /** @default 'allot:' */
  readonly prefix?: string;
  /** A command without an answer by then rejects. @default 1 second */
  readonly commandTimeoutMs?: number;
  /** @default 1 second */
  readonly connectTimeoutMs?: number;
  /** Called when a script finds that Redis lost its data (its buckets start again empty). */
  readonly onDataLoss?: () => void;
}

interface Reply {
  readonly status: string;
  readonly now: number;
  readonly lost: boolean;
  readonly states: readonly string[];
  readonly payload: readonly string[];
}

/** Grants taken here whose resources are remembered, so settle and release describe them at once. */
const MAX_REMEMBERED_GRANTS = 100_000;
/** Grants one expire.lua call forgets; expire() calls again while it is full. */
const EXPIRE_BATCH = 1000;

type Args = (string | number)[];

function specArgs(pools: readonly Pool[], out: Args): void {
  out.push(pools.length);
  for (const p of pools) out.push(p.key, p.capacity, p.refillPerS);
}

export class RedisLimiter implements Limiter {
  readonly capabilities = Object.freeze({ shared: true });
  readonly #redis: Redis;
  readonly #address: string;
  readonly #keys: LimiterKeys;
  readonly #onDataLoss: (() => void) | undefined;
  readonly #snapshot = new Snapshot();
  readonly #resourcesOf = new Map<string, readonly string[]>();
  #table: PoolTable;
  #closing: Promise<void> | undefined;
  #lastError: Error | undefined;

  private constructor(redis: Redis, address: string, o: RedisLimiterOptions) {
    this.#redis = redis;
    this.#address = address;
    this.#keys = limiterKeys(o.prefix ?? DEFAULT_PREFIX);
    this.#onDataLoss = o.onDataLoss;
    this.#table = new PoolTable(o.resources);
  }

  /** Connect, load the scripts and make sure every configured pool has a bucket. Rejects as unavailable if Redis cannot be reached. */
  static async open(o: RedisLimiterOptions): Promise<RedisLimiter> {
    const url = new URL(o.url);
    const address = `${url.hostname}:${url.port || '6379'}`;
    const redis = new Redis(o.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.commandTimeoutMs ?? 1000,
      connectTimeout: o.connectTimeoutMs ?? 1000,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    });
    defineScripts(redis);
    const limiter = new RedisLimiter(redis, address, o);
    // The commands an error concerns reject on their own; keep it to say why (ioredis's rejection says only "Connection is closed").
    redis.on('error', (err: Error) => {
      limiter.#lastError = err;
    });
    redis.on('ready', () => {
      limiter.#lastError = undefined;
    });
    try {
      await redis.connect();
      await limiter.#start(o.epochs);
    } catch (err) {
      redis.disconnect();
      throw redisError(err, address, limiter.#lastError);
    }
    return limiter;
  }

  async #start(epochs: EpochRecord): Promise<void> {
    const recorded = await epochs.load();
    const r = await this.#configure(this.#table, recorded === null ? 'first' : 'known', () => recorded === null);
    const epoch = r.payload[0];
    if (epoch !== undefined && epoch !== recorded) await epochs.save(epoch);
  }

  #configure(table: PoolTable, start: 'first' | 'known', isNew: (p: Pool) => boolean): Promise<Reply> {
    const args: Args = [this.#keys.root, start, 0];
    let n = 0;
    for (const [, pools] of table.resources()) {
      for (const p of pools) args.push(p.key, p.capacity, p.refillPerS, isNew(p) ? '1' : '0');
      n += pools.length;
    }
    args[2] = n;
    return this.#run('configure', [this.#keys.epoch, this.#keys.clock], args);
  }

  async #run(name: ScriptName, keys: readonly string[], argv: readonly (string | number)[]): Promise<Reply> {
    if (this.#closing) throw unavailable('limiter', 'The limiter is closed', { retryAfterS: 1 });
    let raw: unknown;
    try {
      raw = await runScript(this.#redis, name, keys, argv);
    } catch (err) {
      throw redisError(err, this.#address, this.#lastError);
    }
    const [status, now, lost, states, payload] = raw as [string, string, number, string[], string[]];
    const reply: Reply = { status, now: Number(now), lost: lost === 1, states, payload };
    this.#snapshot.apply(reply.now, states);
    if (reply.lost) this.#onDataLoss?.();
    return reply;
  }

  #remember(grantId: string, resources: readonly string[]): void {
    if (this.#resourcesOf.size >= MAX_REMEMBERED_GRANTS) {
      const oldest = this.#resourcesOf.keys().next();
      if (!oldest.done) this.#resourcesOf.delete(oldest.value);
    }
    this.#resourcesOf.set(grantId, resources);
  }

  async take(grantId: string, needs: Amounts, ctx: DrawContext, ttlMs: number): Promise<TakeResult> {
    checkGrantId(grantId);
    checkAmounts('needs', needs);
    checkTtl(ttlMs);
    const args: Args = [this.#keys.root, grantId, ttlMs, 0];
    const names: string[] = [];
    for (const [name, amount] of Object.entries(needs)) {
      const pools = this.#table.pools(name);
      if (!pools || amount <= 0) continue;
      args.push(name, amount);
      specArgs(drawOrder(pools, ctx.who, ctx.ownerWaiting), args);
      names.push(name);
    }
    args[3] = names.length;
    const r = await this.#run('take', [this.#keys.epoch, this.#keys.clock, this.#keys.grants, this.#keys.grant(grantId)], args);
    if (r.status === 'no') {
      const [resource, needed, wait] = r.payload as [string, string, string];
      const waitMs = Number(wait);
      return { ok: false, resource, needed: Number(needed), waitMs: waitMs < 0 ? Infinity : waitMs };
    }
    const taken: Record<string, number> = {};
    for (let i = 0; i + 1 < r.payload.length; i += 2) taken[r.payload[i] as string] = Number(r.payload[i + 1]);
    // A repeated take returns what the first one took, perhaps from other resources.
    this.#remember(grantId, [...new Set([...names, ...Object.keys(taken).map(resourceOfKey)])]);
    return { ok: true, taken };
  }

  /**
   * settle.lua or release.lua, describing the resources of `used` and those
   * this process remembers the grant drew from; a grant taken elsewhere may
   * have drawn from others, which the script names: then call again with them.
   */
  async #end(name: 'settle' | 'release', grantId: string, used: Amounts): Promise<boolean> {
    const names = new Set([...Object.keys(used), ...(this.#resourcesOf.get(grantId) ?? [])]);
    for (let round = 0; round < 3; round++) {
      const args: Args = [this.#keys.root, grantId, names.size];
      for (const n of names) {
        // A resource no longer configured has no pools: what it took is lost, as the ledger does.
        args.push(n, used[n] ?? '');
        specArgs(this.#table.pools(n) ?? [], args);
      }
      const r = await this.#run(name, [this.#keys.epoch, this.#keys.clock, this.#keys.grants, this.#keys.grant(grantId)], args);
      if (r.status === 'need') {
        for (const n of r.payload) names.add(n);
        continue;
      }
      this.#resourcesOf.delete(grantId);
      return r.status === 'ok';
    }
    throw new AllotError('INTERNAL_ERROR', `Redis limiter: ${name} of grant ${grantId} kept asking for more resources`);
  }

  async settle(grantId: string, used: Amounts): Promise<boolean> {
    checkGrantId(grantId);
    checkAmounts('used', used);
    return this.#end('settle', grantId, used);
  }

  async release(grantId: string): Promise<boolean> {
    checkGrantId(grantId);
    return this.#end('release', grantId, {});
  }

  async expire(): Promise<number> {
    let n = 0;
    for (;;) {
      const r = await this.#run('expire', [this.#keys.epoch, this.#keys.clock, this.#keys.grants], [this.#keys.root, EXPIRE_BATCH]);
      for (const id of r.payload) this.#resourcesOf.delete(id);
      n += r.payload.length;
      if (r.payload.length < EXPIRE_BATCH) return n;
    }
  }

  async reset(resource: string, level?: number): Promise<number | null> {
    checkLevel(level);
    const pools = this.#table.pools(resource);
    if (!pools) return null;
    const args: Args = [this.#keys.root, level ?? ''];
    specArgs(pools, args);
    const r = await this.#run('reset', [this.#keys.epoch, this.#keys.clock], args);
    return Number(r.payload[0]);
  }

  async configure(resources: Iterable<LimitedResource>): Promise<void> {
    const table = new PoolTable(resources);
    const before = this.#table;
    await this.#configure(table, 'known', (p) => before.byKey(p.key) === undefined);
    this.#table = table;
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
    const args: Args = [this.#keys.root, 0];
    let n = 0;
    for (const [, pools] of this.#table.resources()) {
      for (const p of pools) args.push(p.key, p.capacity, p.refillPerS);
      n += pools.length;
    }
    args[1] = n;
    await this.#run('levels', [this.#keys.epoch, this.#keys.clock], args);
  }

  close(): Promise<void> {
    this.#closing ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closing;
  }
}
