/**
 * Keys an operator can manage (issue 13, item 3): a client's keys listed
 * (id, prefix, created, expiry, last use; never the key), revoked (refused
 * at once here; on other instances see test/cluster/key-revocation.test.ts),
 * expiring; admin keys with a role, a read-only one refused every change;
 * every change audited under the key that made it. Allot's clock is a fake
 * started from the real time, so expiry is moved to rather than waited for.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { RECHECK_MS } from '../../src/service/auth.ts';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

const clock = new FakeClock(Date.now());
let h: Harness;

before(async () => {
  h = await startHarness({}, { clock });
});
after(async () => {
  await h?.close();
});

const auditActions = async (action: string): Promise<Json[]> => {
  const r = await h.call('GET', '/admin/audit?limit=1000', { key: h.adminKey });
  assert.equal(r.status, 200, r.text);
  return (r.body.entries as Json[]).filter((e) => e.data?.action === action);
};

describe("a client's keys", () => {
  test('listed with id, prefix, created, expiry and last use, never the key or its hash', async () => {
    const c = await h.createClient('standard');
    const second = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: h.adminKey, json: { expires_in_s: 3600 } });
    assert.equal(second.status, 201, second.text);
    assert.match(second.body.api_key, /^ak_/);
    assert.equal(second.body.expires_at, new Date(clock.now() + 3_600_000).toISOString());
    const list = await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.keys.length, 2);
    const [first, other] = list.body.keys as Json[];
    assert.deepEqual(Object.keys(first).toSorted(), ['created_at', 'expires_at', 'expires_in_s', 'id', 'last_used_at', 'prefix']);
    assert.ok(c.key.startsWith(first.prefix), 'the prefix is the start of the key');
    assert.equal(first.expires_at, null);
    assert.equal(other.id, second.body.key_id);
    assert.equal(other.expires_in_s, 3600);
    assert.equal(list.text.includes(c.key) || list.text.includes(second.body.api_key), false, 'no key in a listing');
    assert.equal(first.last_used_at, null, 'not used yet');
    const used = await h.call('GET', '/api/executions', { key: c.key });
    assert.equal(used.status, 200, used.text);
    await h.store.durable();
    // The use is written in the background: wait for it rather than for a fixed time.
    let seen: Json[] = [];
    for (let i = 0; i < 100; i++) {
      seen = (await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys as Json[];
      if (seen[0]?.last_used_at !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(seen[0]?.last_used_at, new Date(clock.now()).toISOString());
    assert.equal(seen[1]?.last_used_at, null, 'the unused key stays unused');
  });

  test('a key without a body (as before) still works; bad expiries are refused by name', async () => {
    const c = await h.createClient('standard');
    const plain = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: h.adminKey });
    assert.equal(plain.status, 201, plain.text);
    assert.equal(plain.body.expires_at, null);
    for (const [json, field] of [[{ expires_in_s: 0 }, 'expires_in_s'], [{ expires_at: 'tomorrow' }, 'expires_at'], [{ expires_at: new Date(clock.now() - 1000).toISOString() }, 'expires_at'], [{ expires_in_s: 60, expires_at: new Date(clock.now() + 120_000).toISOString() }, 'expires_at'], [{ expiry: 5 }, 'expiry']] as const) {
      const r = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: h.adminKey, json });
      assertEnvelope(r, 400, 'VALIDATION_ERROR');
      assert.match(r.text, new RegExp(field), `${JSON.stringify(json)}: ${r.text}`);
    }
    assert.equal((await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys.length, 2, 'a refused key is not made');
  });

  test('revoked: refused at once, the client and its other keys and work stay; audited; a second revoke is NOT_FOUND', async () => {
    const c = await h.createClient('standard');
    const spare = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: h.adminKey });
    assert.equal((await h.call('GET', '/api/executions', { key: c.key })).status, 200, 'works (and is cached) before');
    const keys = (await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys as Json[];
    const r = await h.call('DELETE', `/admin/clients/${c.id}/keys/${keys[0].id}`, { key: h.adminKey });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { client_id: c.id, revoked: keys[0].id });
    assertEnvelope(await h.call('GET', '/api/executions', { key: c.key }), 401, 'UNAUTHORIZED');
    assert.equal((await h.call('GET', '/api/executions', { key: spare.body.api_key })).status, 200, 'the other key still works');
    assert.equal((await h.call('GET', `/admin/clients/${c.id}`, { key: h.adminKey })).status, 200, 'the client stays');
    assertEnvelope(await h.call('DELETE', `/admin/clients/${c.id}/keys/${keys[0].id}`, { key: h.adminKey }), 404, 'NOT_FOUND');
    const other = await h.createClient('standard');
    assertEnvelope(await h.call('DELETE', `/admin/clients/${other.id}/keys/${keys[1].id}`, { key: h.adminKey }), 404, 'NOT_FOUND');
    assert.equal((await h.call('GET', '/api/executions', { key: spare.body.api_key })).status, 200, "another client's id cannot revoke it");
    const audit = await auditActions('client:key:revoke');
    assert.deepEqual(audit.filter((e) => e.data.client_id === c.id).map((e) => [e.actor, e.data.key_id]), [['admin', keys[0].id]]);
    assertEnvelope(await h.call('DELETE', `/admin/clients/${c.id}/keys/${keys[1].id}`, { key: c.key }), 401);
  });

  test('revoked behind the cache (straight in the store, as another instance would): refused within RECHECK_MS', async () => {
    const c = await h.createClient('standard');
    assert.equal((await h.call('GET', '/api/executions', { key: c.key })).status, 200, 'cached');
    const [k] = (await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys as Json[];
    assert.equal(await h.store.revokeClientKey(c.id, k.id, 'admin'), true);
    await h.store.durable();
    clock.advance(RECHECK_MS - 1);
    assert.equal((await h.call('GET', '/api/executions', { key: c.key })).status, 200, 'trusted from the cache until RECHECK_MS');
    clock.advance(1);
    assertEnvelope(await h.call('GET', '/api/executions', { key: c.key }), 401, 'UNAUTHORIZED');
  });

  test('expired: refused with the time it expired, the client untouched', async () => {
    const c = await h.createClient('standard');
    const k = await h.call('POST', `/admin/clients/${c.id}/keys`, { key: h.adminKey, json: { expires_in_s: 60 } });
    assert.equal((await h.call('GET', '/api/executions', { key: k.body.api_key })).status, 200);
    clock.advance(59_000);
    assert.equal((await h.call('GET', '/api/executions', { key: k.body.api_key })).status, 200, 'a second before');
    clock.advance(1_000);
    const r = await h.call('GET', '/api/executions', { key: k.body.api_key });
    assertEnvelope(r, 401, 'UNAUTHORIZED');
    assert.match(r.body.error.message, /expired at/);
    assert.equal((await h.call('GET', '/api/executions', { key: c.key })).status, 200, 'the key without expiry still works');
    const listed = ((await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys as Json[]).find((x) => x.id === k.body.key_id);
    assert.equal(listed?.expires_in_s, 0, 'listed as expired');
  });
});

describe('admin keys and roles', () => {
  test('a read-only key reads everything an admin reads and is refused every change', async () => {
    const made = await h.call('POST', '/admin/keys', { key: h.adminKey, json: { role: 'read-only', name: 'grafana' } });
    assert.equal(made.status, 201, made.text);
    assert.match(made.body.admin_key, /^adm_/);
    const ro = made.body.admin_key as string;
    for (const path of ['/admin/clients', '/admin/audit', '/admin/keys', '/admin/requests', '/admin/dashboard', '/metrics', '/status']) {
      assert.equal((await h.call('GET', path, { key: ro })).status, 200, path);
    }
    const me = await h.call('GET', '/admin/me', { key: ro });
    assert.deepEqual(me.body, { key_id: made.body.key.id, role: 'read-only' });
    const c = await h.createClient('standard');
    const refused = [
      ['POST', '/admin/clients', { name: 'x', tier: 'standard' }],
      ['PATCH', `/admin/clients/${c.id}`, { name: 'y' }],
      ['DELETE', `/admin/clients/${c.id}`, undefined],
      ['POST', `/admin/clients/${c.id}/keys`, undefined],
      ['POST', '/admin/scheduler/stop', undefined],
      ['POST', '/admin/keys', { role: 'admin' }],
      ['POST', `/api/execution/nope/cancel`, undefined],
    ] as const;
    for (const [method, path, json] of refused) {
      const r = await h.call(method, path, { key: ro, ...(json ? { json } : {}) });
      assertEnvelope(r, 403, 'FORBIDDEN');
      assert.match(r.body.error.message, /read-only/, `${method} ${path}`);
    }
    const still = await h.call('GET', `/admin/clients/${c.id}`, { key: h.adminKey });
    assert.equal(still.status, 200, 'the client was not deleted');
    assert.notEqual(still.body.client?.name ?? still.body.name, 'y', 'nor renamed');
    assert.equal((await h.call('GET', `/admin/clients/${c.id}/keys`, { key: h.adminKey })).body.keys.length, 1, 'no key was issued');
    assert.equal(h.scheduler.paused, false, 'the scheduler was not stopped');
  });

  test('an admin-role key changes things, signed with its id in the audit log; revoked, it is refused at once', async () => {
    const made = await h.call('POST', '/admin/keys', { key: h.adminKey, json: { role: 'admin', name: 'ci', expires_in_s: 86_400 } });
    assert.equal(made.status, 201, made.text);
    const k = made.body.admin_key as string;
    const id = made.body.key.id as string;
    const c = await h.call('POST', '/admin/clients', { key: k, json: { name: 'by-ci', tier: 'standard' } });
    assert.equal(c.status, 201, c.text);
    const created = (await auditActions('client:create')).find((e) => e.data.client_id === c.body.client.id);
    assert.equal(created?.actor, `admin:${id}`);
    const listed = ((await h.call('GET', '/admin/keys', { key: h.adminKey })).body.keys as Json[]).find((x) => x.id === id);
    assert.deepEqual([listed?.role, listed?.name, listed?.expires_in_s], ['admin', 'ci', 86_400]);
    assert.equal((await h.call('DELETE', `/admin/keys/${id}`, { key: h.adminKey })).status, 200);
    assertEnvelope(await h.call('GET', '/admin/clients', { key: k }), 401, 'UNAUTHORIZED');
    assertEnvelope(await h.call('DELETE', `/admin/keys/${id}`, { key: h.adminKey }), 404, 'NOT_FOUND');
    assert.deepEqual((await auditActions('admin:key:revoke')).map((e) => [e.actor, e.data.key_id]), [['admin', id]]);
    assert.deepEqual((await auditActions('admin:key:create')).map((e) => e.data.role).toSorted(), ['admin', 'read-only']);
  });

  test('an expired admin key is refused; a bad role is named', async () => {
    const made = await h.call('POST', '/admin/keys', { key: h.adminKey, json: { role: 'read-only', expires_in_s: 10 } });
    clock.advance(10_000);
    assertEnvelope(await h.call('GET', '/admin/clients', { key: made.body.admin_key }), 401, 'UNAUTHORIZED');
    const bad = await h.call('POST', '/admin/keys', { key: h.adminKey, json: { role: 'superuser' } });
    assertEnvelope(bad, 400, 'VALIDATION_ERROR');
    assert.match(bad.text, /role/);
  });
});
