/**
 * The backend the app-level suites (test/http, test/scheduler, test/e2e) run
 * Allot on: `ALLOT_TEST_BACKEND` = `sqlite-file` (default) or `postgres`
 * (PostgreSQL at ALLOT_TEST_PG_URL and Redis at ALLOT_TEST_REDIS_URL, each
 * harness on a fresh schema and key prefix). `npm run test:suites` runs
 * those suites once per backend (test/run-suites.ts). A test that cannot run
 * on the selected backend says so with `onlyOn`, and is reported as skipped.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type AppBackend = 'sqlite-file' | 'postgres';

function selected(): AppBackend {
  const b = process.env.ALLOT_TEST_BACKEND || 'sqlite-file';
  if (b !== 'sqlite-file' && b !== 'postgres') throw new Error(`ALLOT_TEST_BACKEND: unknown backend "${b}" (known: sqlite-file, postgres)`);
  if (b === 'postgres' && (!process.env.ALLOT_TEST_PG_URL || !process.env.ALLOT_TEST_REDIS_URL)) {
    throw new Error('ALLOT_TEST_BACKEND=postgres needs ALLOT_TEST_PG_URL and ALLOT_TEST_REDIS_URL');
  }
  return b;
}

export const APP_BACKEND: AppBackend = selected();

/** node:test `skip` value for a test that runs only on some backends. */
export function onlyOn(...backends: AppBackend[]): false | string {
  return backends.includes(APP_BACKEND) ? false : `runs only on ${backends.join(', ')} (this run: ${APP_BACKEND})`;
}

/**
 * node:test `skip` value for a test that refills token buckets by moving a
 * fake clock: on postgres the buckets are Redis's (src/limiter/redis/), which
 * refill by the Redis server's clock, whatever Allot's clock says.
 */
export function refillsByFakeClock(): false | string {
  return APP_BACKEND === 'sqlite-file' ? false : `refills the buckets with a fake clock; on ${APP_BACKEND} they are in Redis, which refills by its own server clock`;
}

export interface BackendEnv {
  /** Environment for resolveConfig / a child process: the database (and Redis) this Allot uses. */
  readonly env: Record<string, string>;
  /** Drop what the backend created (the schema, the Redis keys). */
  cleanup(): Promise<void>;
}

/**
 * A fresh database for one Allot (or several sharing it): for SQLite the
 * caller's file (`sqlitePath`), for PostgreSQL a new schema and Redis prefix.
 */
export function backendEnv(sqlitePath: string): BackendEnv {
  if (APP_BACKEND === 'sqlite-file') return { env: { ALLOT_DB: sqlitePath }, cleanup: async () => {} };
  // Under the runner's id (test/run-suites.ts drops everything under it after the pass, if a test left some behind).
  const name = `allot_h_${process.env.ALLOT_TEST_RUN_ID ?? 'x'}_${randomBytes(5).toString('hex')}`;
  return {
    env: {
      ALLOT_DATABASE_URL: process.env.ALLOT_TEST_PG_URL as string, ALLOT_DATABASE_SCHEMA: name,
      ALLOT_REDIS_URL: process.env.ALLOT_TEST_REDIS_URL as string, ALLOT_REDIS_PREFIX: name,
    },
    async cleanup() {
      const c = new pg.Client({ connectionString: process.env.ALLOT_TEST_PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await c.end();
      }
      await dropRedisPrefix(name);
    },
  };
}

/** Delete every Redis key under `prefix` (a harness's buckets and grants). */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(process.env.ALLOT_TEST_REDIS_URL as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
