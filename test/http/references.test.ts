/**
 * Payloads by reference: small ones inline, large ones stored compressed and
 * served by GET /api/data/{ref_id} only to the worker they were made for,
 * until they expire.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

const clock = new FakeClock(Date.now());
let h: Harness;

before(async () => {
  h = await startHarness(
    {
      workers: {
        stage1: { transport: 'http', url: 'http://127.0.0.1:9/', token: 'stage1-token-0123456789' },
        stage2: { transport: 'http', url: 'http://127.0.0.1:9/', token: 'stage2-token-0123456789' },
      },
    },
    { clock },
  );
});

after(async () => {
  await h?.close();
});

test('small payloads travel inline; large ones by reference, for their worker only, until they expire', async () => {
  const refs = h.deps.references;
  const small = await refs.make('req-1', 'stage1', { q: 'short' });
  assert.equal(small.storage_type, 'inline');
  assert.deepEqual(small.inline_data, { q: 'short' });

  const doc = { text: 'A long document. '.repeat(200) };
  const big = await refs.make('req-1', 'stage1', doc);
  assert.equal(big.storage_type, 'reference');
  assert.equal(big.inline_data, undefined);
  assert.equal(big.expires_at, new Date(clock.now() + 24 * 3_600_000).toISOString(), '24 hours');

  const get = (token: string | undefined, workerId?: string) =>
    h.call('GET', `/api/data/${big.ref_id}`, { ...(token ? { key: token } : {}), headers: workerId ? { 'x-worker-id': workerId } : {} });
  const ok = await get('stage1-token-0123456789', 'stage1');
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.body, doc);
  assertEnvelope(await get(undefined, 'stage1'), 401, 'UNAUTHORIZED');
  assertEnvelope(await get('stage1-token-0123456789'), 403, 'FORBIDDEN');
  assertEnvelope(await get('stage1-token-0123456789', 'stage2'), 403, 'FORBIDDEN');
  assertEnvelope(await get('stage2-token-0123456789', 'stage2'), 404, 'NOT_FOUND');
  assertEnvelope(await get(h.adminKey, 'stage1'), 403, 'FORBIDDEN');

  clock.advance(24 * 3_600_000);
  assertEnvelope(await get('stage1-token-0123456789', 'stage1'), 404, 'NOT_FOUND');
  assert.equal(await refs.sweep(), 1, 'the expired reference is swept');
});

test('a payload over the limit is refused with PAYLOAD_TOO_LARGE', async () => {
  await assert.rejects(h.deps.references.make(null, 'stage1', { text: 'x'.repeat(17 * 1024 * 1024) }), (err: { code?: string }) => err.code === 'PAYLOAD_TOO_LARGE');
});
