/**
 * The scale-out mode (SPEC section 10) resolved: PostgreSQL as the source of
 * truth (ALLOT_DATABASE_URL) and Redis for the shared token buckets
 * (ALLOT_REDIS_URL). Both or neither: PostgreSQL alone would let every
 * instance keep buckets of its own (each admitting a full bucket), and
 * Redis beside SQLite would share buckets between instances that cannot
 * share anything else. Unset: the embedded SQLite mode, one instance.
 */
import { SECOND } from '../core/clock.ts';
import { redactUrl } from '../core/redact.ts';
import type { configInput } from './schema.ts';
import type { z } from 'zod';

export interface ScaleOutConfig {
  /** postgres:// URL of the shared database. */
  readonly databaseUrl: string;
  /** Schema (search_path) Allot's tables live in; undefined = the URL's default (public). */
  readonly databaseSchema: string | undefined;
  /** Connections this instance keeps open to PostgreSQL. */
  readonly poolSize: number;
  /** redis:// or rediss:// URL of the bucket store. */
  readonly redisUrl: string;
  /** Every Redis key Allot writes starts with this (one Redis may serve several Allot deployments). */
  readonly redisPrefix: string;
  /** An elected scheduler keeps its term this long without renewing it; another instance takes over after it. */
  readonly leaderLeaseMs: number;
  /** How often an instance says it is alive (and the leader renews its term). */
  readonly heartbeatMs: number;
  /** Backstop for missed notifications: how often an instance re-reads what others changed. */
  readonly pollMs: number;
}

export const SCALE_OUT_DEFAULTS = Object.freeze({
  poolSize: 10,
  redisPrefix: 'allot',
  leaderLeaseMs: 5 * SECOND,
  heartbeatMs: 1 * SECOND,
  pollMs: 1 * SECOND,
});

type Input = z.output<typeof configInput>;
type Env = Readonly<Record<string, string | undefined>>;

const PG = /^postgres(ql)?:\/\/[^/]/;
const REDIS = /^rediss?:\/\/[^/]/;

/** Resolve the mode; problems are pushed to `issues`, each naming its key. Undefined = SQLite. */
export function resolveScaleOut(c: Pick<Input, 'database' | 'redis' | 'cluster'>, env: Env, issues: string[]): ScaleOutConfig | undefined {
  const dbUrl = env.ALLOT_DATABASE_URL || c.database?.url;
  const redisUrl = env.ALLOT_REDIS_URL || c.redis?.url;
  const dbKey = env.ALLOT_DATABASE_URL ? 'ALLOT_DATABASE_URL' : 'database.url';
  const redisKey = env.ALLOT_REDIS_URL ? 'ALLOT_REDIS_URL' : 'redis.url';
  if (!dbUrl && !redisUrl) return undefined;
  let ok = true;
  if (dbUrl && !PG.test(dbUrl)) {
    issues.push(`${dbKey}: must be a postgres:// or postgresql:// URL, got "${redactUrl(dbUrl)}"`);
    ok = false;
  }
  if (redisUrl && !REDIS.test(redisUrl)) {
    issues.push(`${redisKey}: must be a redis:// or rediss:// URL, got "${redactUrl(redisUrl)}"`);
    ok = false;
  }
  if (!dbUrl) {
    issues.push(`ALLOT_DATABASE_URL: required with ${redisKey} (Redis holds only the buckets; PostgreSQL is the shared database)`);
    ok = false;
  }
  if (!redisUrl) {
    issues.push(`ALLOT_REDIS_URL: required with ${dbKey} (instances share their token buckets through Redis)`);
    ok = false;
  }
  if (c.database?.path || env.ALLOT_DB) issues.push(`${env.ALLOT_DB ? 'ALLOT_DB' : 'database.path'}: a SQLite path does not go with ${dbKey} (PostgreSQL)`);
  const schema = env.ALLOT_DATABASE_SCHEMA || c.database?.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    issues.push(`${env.ALLOT_DATABASE_SCHEMA ? 'ALLOT_DATABASE_SCHEMA' : 'database.schema'}: must be 1-63 lower-case letters, digits or "_", starting with a letter or "_", got "${schema}"`);
    ok = false;
  }
  if (env.ALLOT_REDIS_PREFIX !== undefined && env.ALLOT_REDIS_PREFIX !== '' && !/^[A-Za-z0-9_.:-]{1,64}$/.test(env.ALLOT_REDIS_PREFIX)) {
    issues.push(`ALLOT_REDIS_PREFIX: must be 1-64 letters, digits, "_", ".", ":" or "-", got "${env.ALLOT_REDIS_PREFIX}"`);
  }
  const cl = c.cluster;
  const leaderLeaseMs = cl?.leader_lease_ms ?? SCALE_OUT_DEFAULTS.leaderLeaseMs;
  const heartbeatMs = cl?.heartbeat_ms ?? SCALE_OUT_DEFAULTS.heartbeatMs;
  if (heartbeatMs * 2 > leaderLeaseMs) issues.push(`cluster.heartbeat_ms: must be at most half of leader_lease_ms (${leaderLeaseMs}), got ${heartbeatMs}`);
  if (!ok || !dbUrl || !redisUrl) return undefined;
  return Object.freeze({
    databaseUrl: dbUrl, databaseSchema: schema, poolSize: c.database?.pool_size ?? SCALE_OUT_DEFAULTS.poolSize,
    redisUrl, redisPrefix: env.ALLOT_REDIS_PREFIX || c.redis?.key_prefix || SCALE_OUT_DEFAULTS.redisPrefix,
    leaderLeaseMs, heartbeatMs, pollMs: cl?.poll_ms ?? SCALE_OUT_DEFAULTS.pollMs,
  });
}
