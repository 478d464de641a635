/**
 * Statements run prepared (src/store/postgres/prepared.ts). A schema change
 * under a running store (a newer instance adding a column) outdates the
 * plans of `SELECT *` and `RETURNING *`: PostgreSQL then refuses them
 * ("cached plan must not change result type"), and the store drops that
 * connection and runs the operation again on a fresh one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { makeRequest } from '../contract/fixtures.ts';

const url = process.env.ALLOT_TEST_PG_URL;

test('reads and transitions go on after a column is added under them', { skip: url ? false : 'ALLOT_TEST_PG_URL is not set' }, async () => {
  const schema = `allot_p_${randomBytes(6).toString('hex')}`;
  // One connection: the statements it prepared are the ones the change outdates.
  const store = new PostgresStore({ url: url as string, schema, poolSize: 1 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await store.migrate();
    for (const id of ['a', 'b']) await store.enqueue({ request: makeRequest({ id, holdNano: 0 }), budgetLimitNano: null });
    assert.equal((await store.getRequest('a'))?.state, 'PENDING');
    const claim = { owner: 'o', now: 1, leaseMs: 1000, reserved: {} };
    assert.equal((await store.claim('a', claim))?.state, 'PREPARING');

    await admin.query(`ALTER TABLE ${pg.escapeIdentifier(schema)}.requests ADD COLUMN added_later TEXT`);

    assert.equal((await store.getRequest('a'))?.state, 'PREPARING', 'a read prepared before the change');
    assert.equal((await store.claim('b', claim))?.state, 'PREPARING', 'a transition prepared before the change');
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  }
});
