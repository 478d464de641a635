/**
 * The audit cursor on PostgreSQL (GET /admin/audit?after=): a row numbered
 * earlier but committed later (another connection, another instance) is not
 * passed over. While its transaction runs, the cursor stops before the rows
 * numbered after it; once it commits, the next read returns it and them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';

const url = process.env.ALLOT_TEST_PG_URL;

test('a cursor read never passes a row that is yet to commit', { skip: url ? false : 'ALLOT_TEST_PG_URL is not set' }, async () => {
  const schema = `allot_a_${randomBytes(6).toString('hex')}`;
  const store = new PostgresStore({ url: url as string, schema, poolSize: 2 });
  const slow = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  const entry = (n: number) => ({ at: n, requestId: null, clientId: null, kind: 'admin' as const, from: null, to: null, actor: 'test', data: { n } });
  try {
    await store.migrate();
    await slow.connect();
    await store.appendAudit(entry(1));
    // A writer that takes its number now and commits later.
    await slow.query('BEGIN');
    await slow.query(`INSERT INTO audit (at, kind, actor, data) VALUES (2, 'admin', 'test', '{"n":2}')`);
    await store.appendAudit(entry(3));
    const seen = async (after: number): Promise<number[]> => (await store.listAudit({ afterSeq: after, limit: 100 })).map((e) => Number(e.data?.n));
    assert.deepEqual(await seen(0), [1], 'stops before the row in flight, and so before the one numbered after it');
    assert.deepEqual((await store.listAudit({ limit: 100 })).map((e) => Number(e.data?.n)), [1, 3], 'a read without a cursor shows what has committed');
    await slow.query('COMMIT');
    const first = (await store.listAudit({ afterSeq: 0, limit: 100 }))[0]?.seq as number;
    assert.deepEqual(await seen(first), [2, 3], 'after the first row: the late one, then the next');
  } finally {
    await slow.end().catch(() => {});
    await store.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  }
});
