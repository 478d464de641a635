/**
 * Payload compression in the SQLite store: inputs and outputs of 4 KiB or
 * more are stored as zstd BLOBs and read back unchanged; small ones stay TEXT.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { RAW_INPUT } from '../../src/model.ts';
import { zstdContentSize } from '../../src/store/sqlite/rows.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { makeRequest } from '../contract/fixtures.ts';

test('large inputs and outputs are stored compressed, transparently', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'allot-compress-'));
  const path = join(dir, 'a.db');
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    const big = { text: 'The quick brown fox jumps over the lazy dog. '.repeat(500) }; // ~22 KB of JSON
    const small = { text: 'short' };
    const a = makeRequest({ id: 'big', input: big, holdNano: 0 });
    const b = makeRequest({ id: 'small', input: small, holdNano: 0 });
    await store.enqueue({ request: a, budgetLimitNano: null });
    await store.enqueue({ request: b, budgetLimitNano: null });
    const claimed = await store.claim('big', { owner: 'o', now: 1, leaseMs: 1000, reserved: {}, start: { deadlineAt: 100, leaseExpiresAt: 1000 } });
    const output = { summary: 'lorem ipsum dolor sit amet '.repeat(400) };
    await store.complete('big', claimed?.leaseToken as number, { now: 2, output, settlement: { usage: { tokens: { input: 0, output: 0 }, resources: {} }, costNano: 0, returned: {} } });
    await store.durable();

    const back = await store.getRequest('big');
    assert.deepEqual(back?.input, big);
    assert.deepEqual(back?.output, output);
    assert.deepEqual((await store.getRequest('small'))?.input, small);

    const ledger = await store.savingsSummary(a.clientId, 0);
    const compression = ledger.find((r) => r.strategy === 'compression');
    assert.equal(compression?.count, 2, 'the input and the output');
    assert.ok((compression?.bytes as number) > (JSON.stringify(big).length + JSON.stringify(output).length) * 0.9, `saved ${compression?.bytes} bytes`);
    assert.equal(compression?.usdNano, 0);

    const peer = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = peer.prepare('SELECT id, typeof(input) AS ti, length(input) AS li, typeof(output) AS tout, length(output) AS lo FROM requests ORDER BY id').all() as {
        id: string; ti: string; li: number; tout: string; lo: number | null;
      }[];
      const bigRow = rows.find((r) => r.id === 'big');
      const smallRow = rows.find((r) => r.id === 'small');
      assert.equal(bigRow?.ti, 'blob');
      assert.ok((bigRow?.li as number) < JSON.stringify(big).length / 10, `stored ${bigRow?.li} bytes for ${JSON.stringify(big).length}`);
      assert.equal(bigRow?.tout, 'blob');
      assert.ok((bigRow?.lo as number) < JSON.stringify(output).length / 10);
      assert.equal(smallRow?.ti, 'text');
    } finally {
      peer.close();
    }
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stored input is handed over as its bytes (RAW_INPUT), sized from the zstd frame, parsed only when read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'allot-compress-'));
  const store = new SqliteStore(join(dir, 'a.db'));
  try {
    await store.migrate();
    const input = { text: 'Payloads travel as the bytes the store holds. '.repeat(3000) };
    const json = Buffer.from(JSON.stringify(input));
    // As admission hands it over when a thread serialized and compressed it already.
    await store.enqueue({ request: makeRequest({ id: 'pre', input, holdNano: 0 }), budgetLimitNano: null, inputJson: json, inputZstd: zstdCompressSync(json) });
    await store.enqueue({ request: makeRequest({ id: 'plain', input, holdNano: 0 }), budgetLimitNano: null });
    for (const id of ['pre', 'plain']) {
      const r = await store.getRequest(id);
      const raw = r?.[RAW_INPUT];
      assert.ok(raw, 'a large stored input offers its bytes');
      assert.equal(raw.approxBytes, json.length, 'the size from the zstd frame header, without decompressing');
      assert.deepEqual(await raw.bytes(), json);
      assert.deepEqual(r?.input, input, 'and parses to the input when read');
    }
    assert.equal((await store.getRequest('pre'))?.input instanceof Object, true);
    for (const n of [0, 255, 256, 65_535, 65_792, 1_000_000]) assert.equal(zstdContentSize(zstdCompressSync(Buffer.alloc(n, 97))), n, `${n} bytes`);
    assert.equal(zstdContentSize(Buffer.from('not zstd at all')), null);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
