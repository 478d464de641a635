/**
 * Worker-side resource use (SPEC section 7): /internal/reserve, /consume and
 * /release with worker tokens, against the same buckets the scheduler uses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { refillsByFakeClock } from '../helpers/app-backend.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

const TOKEN_A = 'worker-a-token-0123456789';
const TOKEN_B = 'worker-b-token-0123456789';
const clock = new FakeClock(Date.now());
let h: Harness;

before(async () => {
  h = await startHarness(
    {
      resources: { mail: { kind: 'count', unit: 'email', capacity: 10, refill_per_s: 1, cost_per_unit_usd: 0.001 } },
      workers: {
        a: { transport: 'http', url: 'http://127.0.0.1:9/', token: TOKEN_A },
        b: { transport: 'http', url: 'http://127.0.0.1:9/', token: TOKEN_B },
        plain: { transport: 'http', url: 'http://127.0.0.1:9/' },
      },
    },
    { clock },
  );
});

after(async () => {
  await h?.close();
});

const level = async (): Promise<number> => {
  const r = await h.call('GET', '/admin/resources', { key: h.adminKey });
  return (r.body.resources as { name: string; level: number }[]).find((x) => x.name === 'mail')?.level as number;
};

describe('/internal/reserve, /consume, /release', () => {
  test('only worker tokens are accepted', async () => {
    assertEnvelope(await h.call('POST', '/internal/reserve', { json: { resource: 'mail', amount: 1 } }), 401, 'UNAUTHORIZED');
    assertEnvelope(await h.call('POST', '/internal/reserve', { key: h.adminKey, json: { resource: 'mail', amount: 1 } }), 403, 'FORBIDDEN');
    const c = await h.createClient('basic');
    assertEnvelope(await h.call('POST', '/internal/reserve', { key: c.key, json: { resource: 'mail', amount: 1 } }), 403, 'FORBIDDEN');
    assertEnvelope(await h.call('GET', '/api/queue/status', { key: TOKEN_A }), 403, 'FORBIDDEN');
  });

  test('reserve takes units, consume returns what was not used, release returns all', { skip: refillsByFakeClock() }, async () => {
    const start = await level();
    assert.equal(start, 10);
    const r = await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'mail', amount: 4, ttl_ms: 60_000 } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.body.reservation_id, /^rsv_/);
    assert.equal(await level(), 6);

    const c = await h.call('POST', '/internal/consume', { key: TOKEN_A, json: { reservation_id: r.body.reservation_id, amount: 3 } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.used, 3);
    assert.equal(c.body.returned, 1);
    assert.equal(await level(), 7, 'the unused unit went back');
    assertEnvelope(await h.call('POST', '/internal/consume', { key: TOKEN_A, json: { reservation_id: r.body.reservation_id } }), 404, 'NOT_FOUND');

    const r2 = await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'mail', amount: 2 } });
    assert.equal(await level(), 5);
    assertEnvelope(await h.call('POST', '/internal/release', { key: TOKEN_B, json: { reservation_id: r2.body.reservation_id } }), 404, 'NOT_FOUND');
    const rel = await h.call('POST', '/internal/release', { key: TOKEN_A, json: { reservation_id: r2.body.reservation_id } });
    assert.equal(rel.status, 200, rel.text);
    assert.equal(await level(), 7);

    const audit = await h.call('GET', '/admin/audit?limit=100000', { key: h.adminKey });
    const actions = (audit.body.entries as { kind: string; data: { action: string } }[]).filter((e) => e.kind === 'resource').map((e) => e.data.action);
    assert.deepEqual(actions, ['reserve', 'consume', 'reserve', 'release']);
  });

  test('overuse is debited, and an empty bucket answers 429 with Retry-After', { skip: refillsByFakeClock() }, async () => {
    clock.advance(60_000); // refill to full
    assert.equal(await level(), 10);
    const r = await h.call('POST', '/internal/reserve', { key: TOKEN_B, json: { resource: 'mail', amount: 5 } });
    const c = await h.call('POST', '/internal/consume', { key: TOKEN_B, json: { reservation_id: r.body.reservation_id, amount: 8 } });
    assert.equal(c.body.returned, -3);
    assert.equal(await level(), 2, 'eight used: five reserved plus three debited');
    const no = await h.call('POST', '/internal/reserve', { key: TOKEN_B, json: { resource: 'mail', amount: 5 } });
    assertEnvelope(no, 429, 'INSUFFICIENT_RESOURCES');
    assert.equal(no.headers.get('retry-after'), '3', 'three more units at 1/s');
    assert.equal(no.body.error.details.retry_after_ms, 3000);
    const now = await h.call('POST', '/internal/consume', { key: TOKEN_B, json: { resource: 'mail', amount: 2 } });
    assert.equal(now.status, 200, now.text);
    assert.equal(await level(), 0);
    assertEnvelope(await h.call('POST', '/internal/consume', { key: TOKEN_B, json: { resource: 'mail', amount: 1 } }), 429, 'INSUFFICIENT_RESOURCES');
  });

  test('expired reservations give their units back', { skip: refillsByFakeClock() }, async () => {
    clock.advance(60_000);
    const r = await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'mail', amount: 6, ttl_ms: 1000 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(await level(), 4);
    assert.equal((await h.call('GET', '/internal/reservations', { key: TOKEN_A })).body.reservations.length, 1);
    clock.advance(999);
    await h.scheduler.reap();
    assert.equal((await h.call('GET', '/internal/reservations', { key: TOKEN_A })).body.reservations.length, 1, 'not expired yet');
    clock.advance(1);
    await h.scheduler.reap();
    assert.equal((await h.call('GET', '/internal/reservations', { key: TOKEN_A })).body.reservations.length, 0);
    assert.equal(Math.round(await level()), 10, 'six returned, plus one second of refill, capped at capacity');
    assertEnvelope(await h.call('POST', '/internal/consume', { key: TOKEN_A, json: { reservation_id: r.body.reservation_id } }), 404, 'NOT_FOUND');
  });

  test('bad input names the field', async () => {
    const unknown = await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'pigeons', amount: 1 } });
    assertEnvelope(unknown, 400, 'VALIDATION_ERROR');
    assert.match(unknown.body.error.message, /resource: no resource named "pigeons"/);
    const huge = await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'mail', amount: 11 } });
    assertEnvelope(huge, 400, 'VALIDATION_ERROR');
    assert.match(huge.body.error.message, /capacity/);
    assertEnvelope(await h.call('POST', '/internal/reserve', { key: TOKEN_A, json: { resource: 'mail', amount: 0 } }), 400, 'VALIDATION_ERROR');
    const both = await h.call('POST', '/internal/consume', { key: TOKEN_A, json: { reservation_id: 'rsv_x', resource: 'mail', amount: 1 } });
    assertEnvelope(both, 400, 'VALIDATION_ERROR');
    assertEnvelope(await h.call('POST', '/internal/consume', { key: TOKEN_A, json: { resource: 'mail' } }), 400, 'VALIDATION_ERROR');
  });
});
