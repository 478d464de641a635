/**
 * Issue 9, probe finding 1: one answer reporting 1,000,000 output tokens on
 * a 50-token reservation took the gpt-3.5 bucket to −909,843, and no client's
 * gpt-3.5 work ran for 607 s, with nothing an operator could do. Now the
 * debt is bounded (never below −capacity), the request is flagged, an alert
 * names the worker, and an admin can reset the bucket.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

let liar: HttpWorkerServer;
let honest: HttpWorkerServer;
let h: Harness;

before(async () => {
  liar = await serveHttp(
    defineWorker({
      name: 'liar',
      dedupe: false,
      handler: (_job, ctx) => {
        ctx.addUsage({ inputTokens: 10, outputTokens: 1_000_000 });
        return { text: 'oops' };
      },
    }),
  );
  honest = await serveHttp(
    defineWorker({
      name: 'honest',
      dedupe: false,
      handler: (job, ctx) => {
        ctx.addUsage({ inputTokens: 5, outputTokens: Number(job.parameters.max_tokens) });
        return { text: 'fine' };
      },
    }),
  );
  h = await startHarness({
    // The default gpt-3.5 resource: 90,000 tokens, 1,500/s.
    workers: { liar: { transport: 'http', url: liar.url }, honest: { transport: 'http', url: honest.url } },
    templates: {
      lie: { worker: 'liar', model: 'gpt-3.5', max_tokens: 50 },
      ask: { worker: 'honest', model: 'gpt-3.5', max_tokens: 50 },
    },
  });
});

after(async () => {
  await h?.close();
  await liar?.close();
  await honest?.close();
});

const level = async (): Promise<number> => {
  const r = await h.call('GET', '/api/resources/availability', { key: h.adminKey });
  assert.equal(r.status, 200, r.text);
  const gpt = (r.body.resources as { name: string; level: number }[]).find((x) => x.name === 'openai.gpt-3.5');
  return (gpt as { level: number }).level;
};

test('usage far beyond the job is charged and flagged, the debt is bounded, an alert names the worker, and an admin reset clears it', async () => {
  const mallory = await h.createClient('enterprise', { monthly_budget_usd: 100 });
  const alice = await h.createClient('premium');

  const r = await h.call('POST', '/api/execute', { key: mallory.key, json: { template: 'lie', input: { q: 'hello' } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'COMPLETED');
  // Charged as reported: 1,000,010 tokens at $0.0015/1K.
  assert.equal(r.body.usage.tokens.output, 1_000_000);
  assert.ok(Math.abs(r.body.cost_usd - 1.500015) < 1e-9, `cost ${r.body.cost_usd}`);
  // Flagged on the request, naming the worker and what it was allowed.
  assert.deepEqual(r.body.overuse.workers, ['liar']);
  assert.deepEqual(r.body.overuse.output_tokens, { allowed: 50, reported: 1_000_000 });
  assert.equal(r.body.overuse.resources['openai.gpt-3.5'].used, 1_000_010);
  assert.ok(r.body.overuse.resources['openai.gpt-3.5'].reserved < 100);

  // The debt is bounded by the capacity: at worst two full refills (120 s here), never the 607 s seen before.
  const lv = await level();
  assert.ok(lv >= -90_000 && lv < -80_000, `level ${lv} is bounded at -capacity`);

  // The audit row of the completion says so too.
  const audit = await h.call('GET', `/admin/audit?request_id=${r.body.request_id}`, { key: h.adminKey });
  const done = (audit.body.entries as { to: string; data: { overuse?: { workers: string[] } } }[]).find((e) => e.to === 'COMPLETED');
  assert.deepEqual(done?.data.overuse?.workers, ['liar']);

  // An alert names the worker.
  const alerts = await h.call('GET', '/admin/alerts', { key: h.adminKey });
  const overuse = (alerts.body.alerts as { kind: string; subject: string; message: string }[]).find((a) => a.kind === 'worker_overuse');
  assert.ok(overuse, JSON.stringify(alerts.body.alerts));
  assert.equal(overuse.subject, 'liar');
  assert.match(overuse.message, /1000000 output tokens of 50 allowed/);

  // /metrics counts it per worker.
  const metrics = await h.call('GET', '/metrics', { key: h.adminKey });
  assert.match(metrics.text, /allot_worker_overuse_total\{worker="liar"\} 1/);

  // Another client's work waits on the debt…
  const queued = await h.call('POST', '/api/queue/enqueue', { key: alice.key, json: { template: 'ask', input: { q: 'hi' } } });
  assert.equal(queued.status, 202, queued.text);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal((await h.call('GET', `/api/execution/${queued.body.request_id}`, { key: alice.key })).body.status, 'PENDING');

  // …until an operator resets the bucket (audited), and then it runs at once.
  const bad = await h.call('POST', '/admin/resources/openai.gpt-3.5/reset', { key: h.adminKey, json: { level: 1e9 } });
  assertEnvelope(bad, 400, 'VALIDATION_ERROR');
  assert.match(bad.body.error.message, /^level: /);
  assertEnvelope(await h.call('POST', '/admin/resources/openai.gpt-3.5/reset', { key: alice.key }), 403, 'FORBIDDEN');
  assertEnvelope(await h.call('POST', '/admin/resources/nope/reset', { key: h.adminKey }), 404, 'NOT_FOUND');
  const reset = await h.call('POST', '/admin/resources/openai.gpt-3.5/reset', { key: h.adminKey });
  assert.equal(reset.status, 200, reset.text);
  assert.ok(reset.body.resource.level > 89_000, `level after reset ${reset.body.resource.level}`);
  const done2 = await h.waitTerminal(queued.body.request_id, alice.key, 5_000);
  assert.equal(done2.status, 'COMPLETED');
  assert.equal(done2.overuse, null, 'an honest answer is not flagged');
  const log = await h.call('GET', '/admin/audit?limit=1000', { key: h.adminKey });
  const resetRow = (log.body.entries as { kind: string; data: { action?: string; resource?: string; was?: number } | null }[]).find((e) => e.data?.action === 'reset');
  assert.ok(resetRow, 'the reset is audited');
  assert.equal(resetRow.data?.resource, 'openai.gpt-3.5');
  assert.ok((resetRow.data?.was ?? 0) < -80_000, 'with the level it replaced');

  // A partial level is accepted too.
  const half = await h.call('POST', '/admin/resources/openai.gpt-3.5/reset', { key: h.adminKey, json: { level: 45_000 } });
  assert.equal(half.status, 200, half.text);
  assert.ok(Math.abs(half.body.resource.level - 45_000) < 100, `level ${half.body.resource.level}`);
});
