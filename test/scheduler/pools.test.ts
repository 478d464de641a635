/**
 * Pools (SPEC section 2): a resource split into shared, reserved (for a tier
 * or client: lent while its owner is idle, reclaimed first when it needs it)
 * and dedicated (never lent) buckets. Fake clock, real worker reporting as
 * used exactly the tokens it was allowed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { refillsByFakeClock } from '../helpers/app-backend.ts';
import { startSpender } from '../helpers/spender.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

let worker: HttpWorkerServer;
before(async () => {
  worker = await startSpender();
});
after(async () => {
  await worker?.close();
});

const config = (pools: unknown[]) => ({
  // input_overhead_tokens 0: the spender bills exactly max_tokens, and the pool arithmetic below counts on it.
  resources: { 'llm.p': { kind: 'tokens', model: 'p', unit: 'token', capacity: 1000, refill_per_s: 100, cost_per_unit_usd: 0, input_overhead_tokens: 0, pools } },
  workers: { spender: { transport: 'http', url: worker.url, max_concurrency: 20 } },
  templates: { job: { worker: 'spender', model: 'p', max_tokens: 1000 } },
});

async function harness(pools: unknown[], clock: FakeClock): Promise<Harness> {
  return startHarness(config(pools), { clock });
}

async function submit(h: Harness, key: string, tokens: number): Promise<string> {
  const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template: 'job', input: {}, max_tokens: tokens } });
  assert.equal(r.status, 202, r.text);
  return r.body.request_id as string;
}

async function step(h: Harness): Promise<void> {
  h.scheduler.kick();
  await h.scheduler.settled();
}

const status = async (h: Harness, key: string, id: string): Promise<string> => (await h.call('GET', `/api/execution/${id}`, { key })).body.status;

async function poolLevels(h: Harness): Promise<Record<string, number>> {
  const r = await h.call('GET', '/api/resources/availability', { key: h.adminKey });
  const res = (r.body.resources as { name: string; pools: { name: string; available: number }[] }[]).find((x) => x.name === 'llm.p');
  return Object.fromEntries((res?.pools ?? []).map((p) => [p.name, p.available]));
}

describe('reserved pools', () => {
  test('are lent while the owner is idle, and reclaimed first when it has work waiting', { skip: refillsByFakeClock() }, async () => {
    const clock = new FakeClock(Date.now());
    const h = await harness([{ name: 'ent', kind: 'reserved', tier: 'enterprise', share: 0.5 }], clock);
    try {
      const ent = await h.createClient('enterprise');
      const basic = await h.createClient('basic');
      assert.deepEqual(await poolLevels(h), { shared: 500, ent: 500 });

      // Enterprise is idle: basic may borrow its pool.
      const b1 = await submit(h, basic.key, 800);
      await step(h);
      assert.equal(await status(h, basic.key, b1), 'COMPLETED');
      assert.deepEqual(await poolLevels(h), { shared: 0, ent: 200 }, 'shared first, then borrowed');

      // Enterprise now has work waiting: its pool is no longer lent.
      const e1 = await submit(h, ent.key, 400);
      const b2 = await submit(h, basic.key, 150);
      await step(h);
      assert.equal(await status(h, ent.key, e1), 'PENDING', 'needs 400, has 200 of its own');
      assert.equal(await status(h, basic.key, b2), 'PENDING', 'shared is empty and the reserved pool is reclaimed');

      clock.advance(1000); // +50 shared, +50 reserved
      await step(h);
      assert.equal(await status(h, basic.key, b2), 'PENDING', 'basic may not take what enterprise is waiting for');
      clock.advance(1000); // shared 100, ent 300: enterprise's 400 fits (own pool first, then shared)
      await step(h);
      assert.equal(await status(h, ent.key, e1), 'COMPLETED', "the owner's wait is its refill time, 2 s");
      assert.equal(await status(h, basic.key, b2), 'PENDING');
      assert.deepEqual(await poolLevels(h), { shared: 0, ent: 0 });
      clock.advance(2000); // enterprise idle again: basic may borrow
      await step(h);
      assert.equal(await status(h, basic.key, b2), 'COMPLETED');
    } finally {
      await h.close();
    }
  });
});

describe('dedicated pools', () => {
  test('are set through the admin API, used by their client only, never lent', { skip: refillsByFakeClock() }, async () => {
    const clock = new FakeClock(Date.now());
    const h = await harness([], clock);
    try {
      const d = await h.createClient('standard');
      const basic = await h.createClient('basic');
      const bad = await h.call('PUT', '/admin/resources/llm.p/pools', {
        key: h.adminKey,
        json: { pools: [{ name: 'x', kind: 'dedicated', share: 0.7 }, { name: 'y', kind: 'reserved', tier: 'nope', share: 0.5 }] },
      });
      assertEnvelope(bad, 400, 'VALIDATION_ERROR');
      assert.match(bad.body.error.message, /pools\[0\]\.client/);
      assert.match(bad.body.error.message, /pools\[1\]\.tier: no tier named "nope"/);
      assert.match(bad.body.error.message, /more than 1/);

      const ok = await h.call('PUT', '/admin/resources/llm.p/pools', {
        key: h.adminKey,
        json: { pools: [{ name: 'mine', kind: 'dedicated', client: d.id, share: 0.3 }, { name: 'ent', kind: 'reserved', tier: 'enterprise', share: 0.3 }] },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(await poolLevels(h), { shared: 400, mine: 300, ent: 300 });

      const b = await submit(h, basic.key, 650); // shared 400 + borrowed enterprise 250
      await step(h);
      assert.equal(await status(h, basic.key, b), 'COMPLETED');
      assert.deepEqual(await poolLevels(h), { shared: 0, mine: 300, ent: 50 }, 'the dedicated pool is not lent');
      const b2 = await submit(h, basic.key, 100);
      await step(h);
      assert.equal(await status(h, basic.key, b2), 'PENDING', 'the dedicated pool still has 300, but not for basic');
      const own = await submit(h, d.key, 300);
      await step(h);
      assert.equal(await status(h, d.key, own), 'COMPLETED', 'its owner uses it at once');

      const audit = await h.call('GET', '/admin/audit?limit=100000', { key: h.adminKey });
      assert.ok((audit.body.entries as { kind: string; data: { action?: string } }[]).some((e) => e.kind === 'resource' && e.data.action === 'pools'), 'the change is audited');
    } finally {
      await h.close();
    }
  });
});
