/**
 * How the PostgreSQL store keeps payloads: inputs and outputs of 4 KiB or
 * more as zstd frames (BYTEA, the `_zstd` column), smaller ones as their JSON
 * text, byte for byte. The contract suite checks they read back unchanged;
 * this checks what is on disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { makeRequest } from '../contract/fixtures.ts';

const url = process.env.ALLOT_TEST_PG_URL;

test('large payloads are stored as zstd BYTEA, small ones as their exact JSON text', { skip: url ? false : 'ALLOT_TEST_PG_URL is not set' }, async () => {
  const schema = `allot_t_${randomBytes(6).toString('hex')}`;
  const store = new PostgresStore({ url: url as string, schema, poolSize: 2 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await store.migrate();
    const big = { text: 'The quick brown fox jumps over the lazy dog. '.repeat(500) };
    // Key order and number forms that JSONB would not keep.
    const small = { z: 1, a: [1.5, 2e21], '': 'é' };
    await store.enqueue({ request: makeRequest({ id: 'big', input: big, holdNano: 0 }), budgetLimitNano: null });
    await store.enqueue({ request: makeRequest({ id: 'small', input: small, holdNano: 0 }), budgetLimitNano: null });
    const claimed = await store.claim('big', { owner: 'o', now: 1, leaseMs: 1000, reserved: {}, start: { deadlineAt: 100, leaseExpiresAt: 1000 } });
    const output = { summary: 'lorem ipsum dolor sit amet '.repeat(400) };
    await store.complete('big', claimed?.leaseToken as number, { now: 2, output, settlement: { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, returned: {} } });

    const { rows } = await admin.query(`SELECT id, input, octet_length(input_zstd) AS input_zstd, output, octet_length(output_zstd) AS output_zstd
      FROM ${pg.escapeIdentifier(schema)}.requests ORDER BY id`);
    const [bigRow, smallRow] = rows as { id: string; input: string | null; input_zstd: number | null; output: string | null; output_zstd: number | null }[];
    assert.equal(bigRow?.id, 'big');
    assert.equal(bigRow?.input, null);
    assert.ok((bigRow?.input_zstd as number) < JSON.stringify(big).length / 10, `stored ${bigRow?.input_zstd} bytes for ${JSON.stringify(big).length}`);
    assert.equal(bigRow?.output, null);
    assert.ok((bigRow?.output_zstd as number) < JSON.stringify(output).length / 10);
    assert.equal(smallRow?.input, JSON.stringify(small), 'the JSON text as written');
    assert.equal(smallRow?.input_zstd, null);
    assert.equal(smallRow?.output, null, 'no output yet');
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    await admin.end();
  }
});
