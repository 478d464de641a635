/**
 * A wrong or unreachable ALLOT_DATABASE_URL or ALLOT_REDIS_URL stops
 * `npm start` with a message that names the setting (exit 2), not a stack
 * trace, and without the URL's password.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { NODE, ROOT } from '../helpers/proc.ts';

const PG_URL = process.env.ALLOT_TEST_PG_URL;
const REDIS_URL = process.env.ALLOT_TEST_REDIS_URL;

function start(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(NODE, [join(ROOT, 'src/main.ts')], {
    env: { PATH: process.env.PATH ?? '', ALLOT_PORT: '0', ALLOT_LOG_LEVEL: 'fatal', ALLOT_ADMIN_KEY: 'startup-errors-admin-key', ...env }, encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

function assertNamed(r: { status: number | null; stderr: string }, name: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, name);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /s3cret/, 'no password');
}

describe('start-up with a database or Redis that cannot be used', () => {
  it('a URL of the wrong kind, or one without the other', () => {
    assertNamed(start({ ALLOT_DATABASE_URL: 'mysql://u:s3cret@h/db', ALLOT_REDIS_URL: 'redis://127.0.0.1:6379' }), /ALLOT_DATABASE_URL: must be a postgres:\/\//);
    assertNamed(start({ ALLOT_DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:5432/db' }), /ALLOT_REDIS_URL: required with ALLOT_DATABASE_URL/);
  });

  it('PostgreSQL that does not answer', () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    assertNamed(start({ ALLOT_DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:1/db', ALLOT_REDIS_URL: REDIS_URL ?? 'redis://127.0.0.1:6379' }), /ALLOT_DATABASE_URL: cannot use PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db: .*ECONNREFUSED|ALLOT_DATABASE_URL: cannot use PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/);
  });

  it('Redis that does not answer', { skip: PG_URL ? false : 'ALLOT_TEST_PG_URL is not set' }, async () => {
    const schema = `allot_s_${process.env.ALLOT_TEST_RUN_ID ?? 'x'}_${process.pid}`;
    try {
      assertNamed(start({ ALLOT_DATABASE_URL: PG_URL as string, ALLOT_DATABASE_SCHEMA: schema, ALLOT_REDIS_URL: 'redis://:s3cret@127.0.0.1:1' }), /ALLOT_REDIS_URL: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    } finally {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  });
});
