/**
 * openLimiter (src/limiter/open.ts), the one place the limiter is chosen:
 * the embedded mode keeps a LocalLimiter's levels in the SQLite store (a
 * restart starts from them), the scale-out mode shares a RedisLimiter whose
 * epoch the store's settings record, and a Redis that cannot be reached
 * stops the start with a ConfigError naming ALLOT_REDIS_URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { ConfigError } from '../../src/config/resolve.ts';
import type { ScaleOutConfig } from '../../src/config/scale-out.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { SHARED_ONLY, type LimitedResource } from '../../src/limiter/limiter.ts';
import { EPOCH_SETTING, openLimiter } from '../../src/limiter/open.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { deleteKeys } from '../helpers/limiter-backends.ts';

const log = pino({ level: 'silent' });
const RESOURCES: readonly LimitedResource[] = [{ name: 'mail', capacity: 10, refillPerS: 1 }];
const EMBEDDED = { scaleOut: undefined };

function scaleOut(over: Partial<ScaleOutConfig> = {}): { scaleOut: ScaleOutConfig } {
  return {
    scaleOut: {
      databaseUrl: process.env.ALLOT_TEST_PG_URL ?? '', databaseSchema: undefined, poolSize: 2, redisUrl: process.env.ALLOT_TEST_REDIS_URL ?? '',
      redisPrefix: `allot-test-${randomBytes(6).toString('hex')}`, leaderLeaseMs: 5000, heartbeatMs: 1000, pollMs: 1000, ...over,
    },
  };
}

describe('openLimiter: the embedded mode (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'allot-limiter-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a LocalLimiter whose levels the SQLite store keeps: a restart starts from them', async () => {
    const path = join(dir, 'levels.db');
    const clock = new FakeClock(Date.now());
    let store = new SqliteStore(path);
    await store.migrate();
    let limiter = await openLimiter(EMBEDDED, store, RESOURCES, clock, log);
    assert.equal(limiter.capabilities.shared, false);
    assert.equal((await limiter.take('g1', { mail: 7 }, SHARED_ONLY, 60_000)).ok, true);
    assert.equal(await limiter.reset('mail', 4), 3);
    await store.durable();
    await limiter.close();
    await store.close();

    store = new SqliteStore(path);
    await store.migrate();
    limiter = await openLimiter(EMBEDDED, store, RESOURCES, clock, log);
    assert.equal(limiter.levels().get('mail')?.level, 4, 'the level the last run left');
    clock.advance(2000);
    assert.equal(limiter.levels().get('mail')?.level, 6, 'and it refills from there');
    // Operators' changes are audited by the scheduler in both modes, not a second time by the limiter.
    assert.deepEqual((await store.listAudit({})).filter((e) => e.kind === 'resource'), []);
    await limiter.close();
    await store.close();
  });

  it("the SQLite store's levels port writes in the open group commit, with an audit row when given a note", async () => {
    const store = new SqliteStore(join(dir, 'port.db'));
    await store.migrate();
    const port = store.bucketLevels();
    assert.deepEqual(await port.load(), new Map());
    await port.write(new Map([['mail', { level: 2.5, updatedAt: 1000 }]]));
    await port.write(new Map([['mail', { level: 3.25, updatedAt: 2000 }], ['sms', { level: 1, updatedAt: 2000 }]]), { at: 2000, action: 'reset', data: { resource: 'mail' } });
    await store.durable();
    assert.deepEqual(await port.load(), new Map([['mail', { level: 3.25, updatedAt: 2000 }], ['sms', { level: 1, updatedAt: 2000 }]]));
    const audit = await store.listAudit({});
    assert.equal(audit.length, 1);
    assert.deepEqual({ ...audit[0], seq: 0 }, { seq: 0, at: 2000, requestId: null, clientId: null, kind: 'resource', from: null, to: null, actor: 'limiter', data: { action: 'reset', resource: 'mail' } });
    await store.close();
  });
});

const pgUrl = process.env.ALLOT_TEST_PG_URL;
const redisUrl = process.env.ALLOT_TEST_REDIS_URL;

describe('openLimiter: the scale-out mode (PostgreSQL + Redis)', { skip: pgUrl && redisUrl ? false : 'ALLOT_TEST_PG_URL and ALLOT_TEST_REDIS_URL are needed' }, () => {
  const schema = `allot_t_${randomBytes(6).toString('hex')}`;
  const prefixes: string[] = [];
  after(async () => {
    for (const p of prefixes) await deleteKeys(redisUrl as string, `${p}:`);
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await c.end();
  });

  it('a RedisLimiter under ALLOT_REDIS_PREFIX, its epoch recorded in the store settings and found again by the next start', async () => {
    const store = new PostgresStore({ url: pgUrl as string, schema, poolSize: 2, applicationName: 'allot-test' });
    await store.migrate();
    const config = scaleOut();
    prefixes.push(config.scaleOut.redisPrefix);
    const clock = new FakeClock(Date.now());
    const a = await openLimiter(config, store, RESOURCES, clock, log);
    try {
      assert.equal(a.capabilities.shared, true);
      const epoch = await store.getSetting(EPOCH_SETTING);
      assert.ok(epoch, 'the first start recorded an epoch');
      assert.equal((await a.take('g1', { mail: 7 }, SHARED_ONLY, 60_000)).ok, true);
      const b = await openLimiter(config, store, RESOURCES, clock, log);
      try {
        assert.equal(await store.getSetting(EPOCH_SETTING), epoch, 'a second start keeps it');
        await b.refresh();
        assert.ok((b.levels().get('mail')?.level ?? 99) < 4, 'the second instance shares the buckets: the first one took 7 of 10');
        assert.equal(await b.release('g1'), true, 'and the grants');
      } finally {
        await b.close();
      }
      const r = new (await import('ioredis')).Redis(redisUrl as string);
      const keys = await r.keys(`${config.scaleOut.redisPrefix}:*`);
      await r.quit();
      assert.ok(keys.length > 0 && keys.every((k) => k.startsWith(`${config.scaleOut.redisPrefix}:{limiter}:`)), keys.join(', '));
    } finally {
      await a.close();
      await store.close();
    }
  });

  it('a Redis that cannot be reached stops the start: ConfigError naming ALLOT_REDIS_URL, without its password', async () => {
    const store = new PostgresStore({ url: pgUrl as string, schema, poolSize: 2, applicationName: 'allot-test' });
    await store.migrate();
    try {
      const t0 = performance.now();
      await assert.rejects(openLimiter(scaleOut({ redisUrl: 'redis://allot:s3cret@127.0.0.1:1' }), store, RESOURCES, new FakeClock(Date.now()), log), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.issues.length, 1);
        assert.match(err.issues[0] as string, /^ALLOT_REDIS_URL: cannot reach Redis at redis:\/\/allot:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
      assert.ok(performance.now() - t0 < 5000, 'at once, not after retries');
    } finally {
      await store.close();
    }
  });
});
