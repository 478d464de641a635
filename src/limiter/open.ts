/**
 * The one place the Limiter is chosen (SPEC section 10):
 * - the embedded mode (SQLite): a LocalLimiter whose levels live in the
 *   SQLite store's `buckets` table, so a restart starts from them;
 * - the scale-out mode (`config.scaleOut`): a RedisLimiter shared by every
 *   instance, whose epoch (how a first start is told from Redis having lost
 *   its data, src/limiter/redis/epoch.ts) is kept in the shared store's settings.
 * A Redis that cannot be reached at start stops Allot with a message naming
 * ALLOT_REDIS_URL, as an unreachable database names ALLOT_DATABASE_URL.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/resolve.ts';
import { ConfigError } from '../config/resolve.ts';
import type { Clock } from '../core/clock.ts';
import { isUnavailable } from '../core/errors.ts';
import { redactUrl } from '../core/redact.ts';
import type { Store } from '../store/store.ts';
import type { LimitedResource, Limiter } from './limiter.ts';
import { LocalLimiter, type LevelsPort } from './local-limiter.ts';
import type { EpochRecord } from './redis/epoch.ts';
import { RedisLimiter } from './redis/redis-limiter.ts';

/** The store setting that records the Redis limiter's epoch. */
export const EPOCH_SETTING = 'limiter_epoch';

/** A store that keeps the local limiter's levels (the SQLite store). */
export interface LevelsStore {
  bucketLevels(): LevelsPort;
}

function keepsLevels(store: Store): store is Store & LevelsStore {
  return typeof (store as Partial<LevelsStore>).bucketLevels === 'function';
}

/** The Redis limiter's epoch, kept in the store's settings (shared by every instance, and outside Redis). */
export function settingsEpochRecord(store: Pick<Store, 'getSetting' | 'putSetting'>): EpochRecord {
  return {
    load: () => store.getSetting(EPOCH_SETTING),
    save: (epoch) => store.putSetting(EPOCH_SETTING, epoch, 'limiter'),
  };
}

/** Keys go under `<prefix>:` (ALLOT_REDIS_PREFIX names a namespace; the separator is ours). */
function keyPrefix(prefix: string): string {
  return prefix.endsWith(':') ? prefix : `${prefix}:`;
}

/**
 * Open the deployment's limiter on `resources` (the registry's, with their pools).
 * Throws ConfigError when Redis cannot be reached.
 */
export async function openLimiter(
  config: Pick<ResolvedConfig, 'scaleOut'>, store: Store, resources: Iterable<LimitedResource>, clock: Clock, log: Logger,
): Promise<Limiter> {
  const so = config.scaleOut;
  if (!so) {
    if (!keepsLevels(store)) throw new Error('openLimiter: the embedded mode needs a store that keeps bucket levels (the SQLite store)');
    const port = store.bucketLevels();
    // The scheduler audits operators' changes itself, in both modes (src/scheduler/bucket-admin.ts):
    // the limiter's own note of the same change would be a second audit row.
    return LocalLimiter.open({ resources, clock, levels: { load: () => port.load(), write: (levels) => port.write(levels) } });
  }
  try {
    return await RedisLimiter.open({
      url: so.redisUrl, prefix: keyPrefix(so.redisPrefix), resources, epochs: settingsEpochRecord(store),
      onDataLoss: () => log.warn('Redis lost the token buckets: they start again empty and refill from now (nothing is granted twice)'),
    });
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    const reason = typeof err.details?.reason === 'string' ? err.details.reason : err.message;
    throw new ConfigError([`ALLOT_REDIS_URL: cannot reach Redis at ${redactUrl(so.redisUrl)}: ${reason}`], 'environment');
  }
}
