/**
 * Alerts with firing/resolved state (SPEC section 8): a condition fires an
 * alert once, escalates it when its severity rises, resolves it when it no
 * longer holds; the history is kept, and a webhook (a real HTTP server on
 * loopback) is told of each change, signed, in order, and retried.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

const SECRET = 'webhook-secret-0123';
let h: Harness;
let worker: HttpWorkerServer;
let hook: Server;
/** What the webhook received, in order (with the Standard Webhooks headers); the first `failFirst` posts are answered 503. */
const received: { event: string; body: Json; id: string; timestamp: string | undefined; signature: string | undefined; raw: string }[] = [];
/** The webhook-id of every attempt, refused ones too. */
const attemptIds: string[] = [];
let failFirst = 0;

before(async () => {
  hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attemptIds.push(String(req.headers['webhook-id']));
      if (failFirst > 0) {
        failFirst--;
        res.writeHead(503).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({
        event: String(req.headers['x-allot-event']), body: JSON.parse(raw), raw, id: String(req.headers['webhook-id']),
        timestamp: req.headers['webhook-timestamp'] as string | undefined, signature: req.headers['webhook-signature'] as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  worker = await startSpender();
  h = await startHarness({
    // Checked only when asked (GET /admin/alerts), so the test decides when.
    alerts: { interval_ms: 3_600_000, webhook_url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, webhook_secret: SECRET },
    resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 } },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 1000 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
  await new Promise((r) => hook?.close(r));
});

const firing = async (): Promise<Json[]> => {
  const r = await h.call('GET', '/admin/alerts', { key: h.adminKey });
  assert.equal(r.status, 200, r.text);
  return r.body.alerts;
};
const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};

test('a budget alert fires once, escalates, resolves; the history keeps it; the webhook hears each change, signed and in order', async () => {
  const est = await h.call('POST', '/api/resources/estimate', { key: h.adminKey, json: { template: 'ask', input: { q: 'x' } } });
  const each: number = est.body.estimate.max_cost_usd;
  // Two holds: 1.9 of them is over 95% of the budget (a warning); 2 is 100% or more (critical).
  const c = await h.createClient('standard', { monthly_budget_usd: each * 2.02 });
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    const ids: string[] = [];
    const r1 = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'x' } } });
    assert.equal(r1.status, 202, r1.text);
    ids.push(r1.body.request_id);
    assert.ok(!(await firing()).some((a) => a.subject === c.id), 'half the budget: nothing fires');

    const r2 = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'x' } } });
    ids.push(r2.body.request_id);
    const fired = (await firing()).filter((a) => a.kind === 'budget_high' && a.subject === c.id);
    assert.equal(fired.length, 1);
    assert.equal(fired[0].state, 'firing');
    assert.equal(fired[0].severity, 'warning');
    const again = (await firing()).filter((a) => a.subject === c.id);
    assert.deepEqual(again.map((a) => [a.id, a.fired_at]), [[fired[0].id, fired[0].fired_at]], 'asked again: the same alert, not a new one');

    // The client's budget is lowered under what it holds: the alert escalates.
    assert.equal((await h.call('PATCH', `/admin/clients/${c.id}`, { key: h.adminKey, json: { monthly_budget_usd: each * 1.5 } })).status, 200);
    const esc = (await firing()).find((a) => a.subject === c.id);
    assert.equal(esc.id, fired[0].id);
    assert.equal(esc.severity, 'critical');

    const metrics = (await h.call('GET', '/metrics', { key: h.adminKey })).text;
    assert.match(metrics, /allot_alerts_firing\{kind="budget_high",severity="critical"\} [1-9]/, 'the gauge counts it');
    for (const id of ids) assert.equal((await h.call('DELETE', `/api/queue/${id}`, { key: c.key })).status, 200);
    assert.ok(!(await firing()).some((a) => a.subject === c.id), 'holds released: resolved');

    const hist = await h.call('GET', '/admin/alerts/history?state=resolved', { key: h.adminKey });
    const mine = hist.body.alerts.find((a: Json) => a.id === fired[0].id);
    assert.equal(mine.state, 'resolved');
    assert.equal(mine.severity, 'critical', 'its latest severity');
    assert.ok(Date.parse(mine.resolved_at) >= Date.parse(mine.fired_at));

    await until('three webhook deliveries', () => received.filter((x) => x.body.alert?.subject === c.id).length >= 3);
    const seen = received.filter((x) => x.body.alert?.subject === c.id);
    assert.deepEqual(seen.map((x) => x.event), ['alert.firing', 'alert.escalated', 'alert.resolved']);
    assert.deepEqual(seen.map((x) => x.body.event), ['alert.firing', 'alert.escalated', 'alert.resolved']);
    for (const x of seen) {
      // Standard Webhooks: v1 = base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" with the secret (not "whsec_…": its bytes).
      assert.match(x.id, /^msg_[0-9a-f-]{36}$/);
      assert.ok(x.timestamp && Math.abs(Number(x.timestamp) - Date.now() / 1000) < 60, `a timestamp in seconds, now: ${x.timestamp}`);
      assert.equal(x.signature, `v1,${createHmac('sha256', SECRET).update(`${x.id}.${x.timestamp}.${x.raw}`).digest('base64')}`, 'signed with the secret, id and timestamp');
      assert.equal(x.body.alert.id, fired[0].id);
    }
    assert.equal(new Set(seen.map((x) => x.id)).size, 3, 'each delivery its own id');
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});

test('a webhook that fails is retried; the alert is recorded whatever the webhook does', async () => {
  const est = await h.call('POST', '/api/resources/estimate', { key: h.adminKey, json: { template: 'ask', input: { q: 'x' } } });
  const c = await h.createClient('standard', { monthly_budget_usd: est.body.estimate.max_cost_usd });
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    failFirst = 1;
    const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'x' } } });
    assert.equal(r.status, 202, r.text);
    assert.ok((await firing()).some((a) => a.subject === c.id && a.severity === 'critical'));
    await until('the retried delivery', () => received.some((x) => x.body.alert?.subject === c.id));
    assert.equal(failFirst, 0, 'the first attempt was refused');
    const delivered = received.find((x) => x.body.alert?.subject === c.id) as (typeof received)[number];
    assert.equal(attemptIds.filter((id) => id === delivered.id).length, 2, 'the retry is the same delivery (the same webhook-id), signed again');
    await h.call('DELETE', `/api/queue/${r.body.request_id}`, { key: c.key });
    await firing();
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});

test('bad alert config is named', async () => {
  const { resolveConfig, ConfigError } = await import('../../src/config/resolve.ts');
  assert.throws(
    () => resolveConfig({ ALLOT_CONFIG: '/c.json' }, () => JSON.stringify({ alerts: { webhook_url: 'ftp://x', interval_ms: -1 } })),
    (err: unknown) => err instanceof ConfigError && /alerts\.webhook_url/.test(err.message) && /alerts\.interval_ms/.test(err.message),
  );
});
