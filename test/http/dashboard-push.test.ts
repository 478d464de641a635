/**
 * The dashboard's push channel (GET /admin/dashboard/events) and the cost
 * split (GET /admin/dashboard/cost): a snapshot at once, another after a
 * change and none while nothing changes, changes within the throttle sharing
 * one snapshot; admin-only; the split's series add up to the total.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { THROTTLE_MS } from '../../src/http/routes/dashboard-events.ts';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import { eachEvent } from '../helpers/sse.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: {
      'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 },
      'big-llm': { kind: 'tokens', model: 'big-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00005 },
    },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 50 }, think: { worker: 'spender', model: 'big-llm', max_tokens: 50 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

/** Follows the stream, collecting its snapshots as they arrive. */
function follow(key: string) {
  const ctrl = new AbortController();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const snapshots: { at: number; data: Json }[] = [];
  const opened = h.app.request('/admin/dashboard/events', { headers: { authorization: `Bearer ${key}` }, signal: ctrl.signal });
  const reading = (async () => {
    const res = await opened;
    if (res.status !== 200) return res;
    reader = (res.body as ReadableStream<Uint8Array>).getReader();
    try {
      await eachEvent(reader, (e) => {
        if (e.event === 'snapshot') snapshots.push({ at: performance.now(), data: e.data });
      });
    } catch {
      // aborted
    }
    return res;
  })();
  // Cancelling the body is the client going away: the server's stream ends and unsubscribes.
  const stop = async (): Promise<void> => {
    ctrl.abort();
    await reader?.cancel().catch(() => {});
    await reading;
  };
  return { snapshots, opened, stop };
}

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('the push channel is admin-only, in the OpenAPI document, and answers as text/event-stream', async () => {
  const c = await h.createClient('standard');
  assertEnvelope(await h.call('GET', '/admin/dashboard/events'), 401, 'UNAUTHORIZED');
  assertEnvelope(await h.call('GET', '/admin/dashboard/events', { key: c.key }), 403, 'FORBIDDEN');
  const doc = await h.call('GET', '/openapi.json');
  assert.equal(doc.body.paths['/admin/dashboard/events']?.get?.operationId, 'streamDashboard');
  assert.equal(doc.body.paths['/admin/dashboard/cost']?.get?.operationId, 'getDashboardCost');
  const listening = h.deps.events.listenerCount('request:progress');
  const s = follow(h.adminKey);
  const res = await s.opened;
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  await until(() => s.snapshots.length === 1, 5_000, 'the first snapshot');
  assert.equal(h.deps.events.listenerCount('request:progress'), listening + 1, 'the stream listens');
  await s.stop();
  // The dashboard went away: the server's stream ends and stops listening.
  await until(() => h.deps.events.listenerCount('request:progress') === listening, 5_000, 'the stream to unsubscribe');
});

test('a snapshot at once, one after a change, none while nothing changes; a burst shares one', async () => {
  const c = await h.createClient('standard');
  const s = follow(h.adminKey);
  await until(() => s.snapshots.length === 1, 5_000, 'the first snapshot');
  const first = s.snapshots[0]?.data;
  assert.equal(first.scheduler, 'running');
  assert.ok(Array.isArray(first.failed) && Array.isArray(first.requests));
  // Quiet: nothing is sent.
  await sleep(THROTTLE_MS * 3);
  assert.equal(s.snapshots.length, 1, 'no snapshot without a change');
  // A change: the scheduler paused by an admin.
  assert.equal((await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey })).status, 200);
  await until(() => s.snapshots.at(-1)?.data.scheduler === 'paused', 5_000, 'a snapshot showing the pause');
  const afterPause = s.snapshots.length;
  // A burst of five submissions within the throttle: at most two snapshots (the first at once, the rest together).
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: `burst ${i}` } } });
    assert.equal(r.status, 202, r.text);
    ids.push(r.body.request_id);
  }
  await until(() => ids.every((id) => s.snapshots.at(-1)?.data.requests.some((r: Json) => r.request_id === id)), 5_000, 'a snapshot with the five queued requests');
  await sleep(THROTTLE_MS * 2);
  const burst = s.snapshots.length - afterPause;
  assert.ok(burst >= 1 && burst <= 2, `${burst} snapshots for a burst of five`);
  const gaps = s.snapshots.slice(1).map((x, i) => x.at - (s.snapshots[i]?.at ?? 0));
  assert.ok(gaps.every((g) => g >= THROTTLE_MS - 50), `snapshots at least ${THROTTLE_MS} ms apart: ${gaps.map(Math.round).join(', ')}`);
  const row = s.snapshots.at(-1)?.data.requests.find((r: Json) => r.request_id === ids[0]);
  assert.equal(row.status, 'PENDING');
  assert.equal(row.client_name, (await h.call('GET', `/admin/clients/${c.id}`, { key: h.adminKey })).body.client.name, 'the client by name');
  assert.equal(typeof row.queue_position, 'number');
  // Resumed: they run and end, and the last snapshot says so.
  assert.equal((await h.call('POST', '/admin/scheduler/start', { key: h.adminKey })).status, 200);
  for (const id of ids) assert.equal((await h.waitTerminal(id, c.key)).status, 'COMPLETED');
  await until(() => s.snapshots.at(-1)?.data.requests.length === 0 && s.snapshots.at(-1)?.data.scheduler === 'running', 5_000, 'a snapshot with nothing live');
  await s.stop();
});

test('the cost split: one series per client, template or model, adding up to the hourly total', async () => {
  const a = await h.createClient('standard', { name: 'Split A' });
  const b = await h.createClient('standard', { name: 'Split B' });
  for (const [key, template] of [[a.key, 'ask'], [a.key, 'think'], [b.key, 'think']] as const) {
    const r = await h.call('POST', '/api/execute', { key, json: { template, input: { q: template } } });
    assert.equal(r.body.status, 'COMPLETED', r.text);
  }
  const snap = (await h.call('GET', '/admin/dashboard?hours=2', { key: h.adminKey })).body;
  const total = snap.cost.at(-1).cost_usd;
  for (const by of ['client', 'template', 'model'] as const) {
    const r = await h.call('GET', `/admin/dashboard/cost?hours=2&by=${by}`, { key: h.adminKey });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.by, by);
    assert.equal(r.body.complete, true);
    assert.deepEqual(r.body.hours, snap.cost.map((p: Json) => p.hour));
    const sum = r.body.series.reduce((acc: number, s: Json) => acc + s.cost_usd[1], 0);
    assert.ok(Math.abs(sum - total) < 1e-9, `${by}: the series add up to this hour's total (${sum} vs ${total})`);
    const totals = r.body.series.map((s: Json) => s.total_usd);
    assert.deepEqual(totals, totals.toSorted((x: number, y: number) => y - x), 'largest first');
  }
  const byClient = (await h.call('GET', '/admin/dashboard/cost?hours=2&by=client', { key: h.adminKey })).body.series;
  const sa = byClient.find((s: Json) => s.key === a.id);
  assert.equal(sa.label, 'Split A', 'clients by name');
  const byModel = (await h.call('GET', '/admin/dashboard/cost?hours=2&by=model', { key: h.adminKey })).body.series.map((s: Json) => s.key);
  assert.deepEqual(byModel.toSorted(), ['big-llm', 'test-llm']);
  assertEnvelope(await h.call('GET', '/admin/dashboard/cost?by=colour', { key: h.adminKey }), 400, 'VALIDATION_ERROR');
});
