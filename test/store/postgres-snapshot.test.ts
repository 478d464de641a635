/**
 * The copy of a PostgreSQL schema a dry run imports into: the same rows,
 * identity counters that go on from the source's, foreign keys that point
 * at the copy's own tables, the source untouched, and nothing left after
 * `remove()`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { snapshotSchema } from '../../src/store/postgres/snapshot.ts';
import { makeClient } from '../contract/fixtures.ts';

const url = process.env.ALLOT_TEST_PG_URL;

test('a snapshot is a working copy of the schema, written without touching the source, and removed after', { skip: url ? false : 'ALLOT_TEST_PG_URL is not set' }, async () => {
  const schema = `allot_s_${randomBytes(6).toString('hex')}`;
  const source = new PostgresStore({ url: url as string, schema, poolSize: 2 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const count = async (s: string, table: string): Promise<number> => Number((await admin.query(`SELECT count(*) AS n FROM ${pg.escapeIdentifier(s)}.${table}`)).rows[0].n);
  let copy: PostgresStore | undefined;
  try {
    await source.migrate();
    await source.createClient(makeClient('c1'), 'hash-1', 'ak_1', 'test');
    for (let i = 0; i < 3; i++) await source.appendAudit({ at: i, requestId: null, clientId: 'c1', kind: 'admin', from: null, to: null, actor: 'test', data: { i } });
    const seqs = async (store: PostgresStore): Promise<number[]> => (await store.listAudit({ limit: 100 })).map((e) => e.seq).toSorted((a, b) => a - b);
    const before = await seqs(source);

    const snap = await snapshotSchema(url as string, schema);
    copy = new PostgresStore({ url: url as string, schema: snap.schema, poolSize: 2 });
    await copy.migrate(); // nothing to do: its migrations were copied with it
    assert.deepEqual(await seqs(copy), before, 'the same rows');
    await copy.appendAudit({ at: 9, requestId: null, clientId: 'c1', kind: 'admin', from: null, to: null, actor: 'test', data: null });
    assert.equal((await seqs(copy)).at(-1), (before.at(-1) as number) + 1, 'its identity goes on from the source');
    await copy.createClient(makeClient('c2'), 'hash-2', 'ak_2', 'test');
    // The copy's key rows refer to the copy's clients: a key for a client it does not have is refused, and the copy's c2 is taken.
    await assert.rejects(admin.query(`INSERT INTO ${pg.escapeIdentifier(snap.schema)}.api_keys (hash, client_id, prefix, created_at) VALUES ('h9', 'c3', 'ak_9', 0)`), /foreign key/);
    await admin.query(`INSERT INTO ${pg.escapeIdentifier(snap.schema)}.api_keys (hash, client_id, prefix, created_at) VALUES ('h8', 'c2', 'ak_8', 0)`);
    assert.deepEqual([await count(schema, 'clients'), await count(snap.schema, 'clients')], [1, 2]);
    assert.deepEqual(await seqs(source), before, 'the source is untouched');
    await copy.close();
    copy = undefined;
    await snap.remove();
    const left = await admin.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [snap.schema]);
    assert.equal(left.rowCount, 0, 'removed');
  } finally {
    await copy?.close();
    await source.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  }
});
