/**
 * ALLOT_DATABASE_URL and ALLOT_REDIS_URL resolved (src/config/scale-out.ts):
 * both or neither, each checked, each problem naming its key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';

const PG = 'postgres://allot:s3cret@db.internal:5432/allot';
const REDIS = 'redis://cache.internal:6379';

function issues(env: Record<string, string>, file?: unknown): string[] {
  try {
    resolveConfig(env, () => JSON.stringify(file));
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

describe('scale-out config', () => {
  it('neither set: the embedded SQLite mode', () => {
    assert.equal(resolveConfig({}).scaleOut, undefined);
  });

  it('both set: PostgreSQL and Redis with their defaults', () => {
    const c = resolveConfig({ ALLOT_DATABASE_URL: PG, ALLOT_REDIS_URL: REDIS });
    assert.deepEqual(c.scaleOut, {
      databaseUrl: PG, databaseSchema: undefined, poolSize: 10, redisUrl: REDIS, redisPrefix: 'allot', leaderLeaseMs: 5000, heartbeatMs: 1000, pollMs: 1000,
    });
  });

  it('one without the other is refused, naming the missing one', () => {
    assert.deepEqual(issues({ ALLOT_DATABASE_URL: PG }), ['ALLOT_REDIS_URL: required with ALLOT_DATABASE_URL (instances share their token buckets through Redis)']);
    assert.deepEqual(issues({ ALLOT_REDIS_URL: REDIS }), ['ALLOT_DATABASE_URL: required with ALLOT_REDIS_URL (Redis holds only the buckets; PostgreSQL is the shared database)']);
  });

  it('a URL of the wrong kind is named, without its password', () => {
    const got = issues({ ALLOT_DATABASE_URL: 'mysql://allot:s3cret@db/allot', ALLOT_REDIS_URL: 'http://cache' });
    assert.equal(got.length, 2);
    assert.match(got[0] as string, /^ALLOT_DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL, got "mysql:\/\/allot:\*\*\*@db\/allot"$/);
    assert.match(got[1] as string, /^ALLOT_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.ok(!got.join().includes('s3cret'));
  });

  it('the config file may hold them; the environment wins; a SQLite path beside them is refused', () => {
    const file = { database: { url: 'postgresql://file/allot', schema: 'allot_prod', pool_size: 20 }, redis: { url: 'rediss://file:6380', key_prefix: 'prod' }, cluster: { leader_lease_ms: 8000, heartbeat_ms: 2000 } };
    const c = resolveConfig({ ALLOT_CONFIG: 'x.json', ALLOT_REDIS_URL: REDIS }, () => JSON.stringify(file));
    assert.equal(c.scaleOut?.databaseUrl, 'postgresql://file/allot');
    assert.equal(c.scaleOut?.databaseSchema, 'allot_prod');
    assert.equal(c.scaleOut?.poolSize, 20);
    assert.equal(c.scaleOut?.redisUrl, REDIS);
    assert.equal(c.scaleOut?.redisPrefix, 'prod');
    assert.equal(c.scaleOut?.leaderLeaseMs, 8000);
    assert.deepEqual(issues({ ALLOT_CONFIG: 'x.json', ALLOT_DB: '/tmp/a.db' }, file), ['ALLOT_DB: a SQLite path does not go with database.url (PostgreSQL)']);
  });

  it('a bad schema name and a heartbeat too slow for the lease are named', () => {
    assert.deepEqual(issues({ ALLOT_DATABASE_URL: PG, ALLOT_REDIS_URL: REDIS, ALLOT_DATABASE_SCHEMA: 'Bad-Name' }), [
      'ALLOT_DATABASE_SCHEMA: must be 1-63 lower-case letters, digits or "_", starting with a letter or "_", got "Bad-Name"',
    ]);
    assert.deepEqual(issues({ ALLOT_CONFIG: 'x.json', ALLOT_DATABASE_URL: PG, ALLOT_REDIS_URL: REDIS }, { cluster: { leader_lease_ms: 3000, heartbeat_ms: 2000 } }), [
      'cluster.heartbeat_ms: must be at most half of leader_lease_ms (3000), got 2000',
    ]);
  });
});
