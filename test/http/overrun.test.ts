/**
 * A worker that reports more than the max_tokens it was given: the overrun
 * is charged and recorded, and it blocks the next request until there is
 * room in the budget.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';

let worker: HttpWorkerServer;
let h: Harness;

before(async () => {
  worker = await serveHttp(
    defineWorker({
      name: 'greedy',
      handler: (job, ctx) => {
        // Ignores max_tokens: reports 12x what it was allowed.
        ctx.addUsage({ inputTokens: 0, outputTokens: 12 * Number(job.parameters.max_tokens) });
        return {};
      },
    }),
  );
  h = await startHarness({
    resources: { 'llm.m': { kind: 'tokens', model: 'm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.000001 } },
    workers: { greedy: { transport: 'http', url: worker.url } },
    templates: { greedy: { worker: 'greedy', model: 'm', max_tokens: 1000 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('an overrun is charged, recorded, and blocks the next request until there is room', async () => {
  const c = await h.createClient('basic', { monthly_budget_usd: 0.01 });
  const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'greedy', input: {} } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'COMPLETED');
  assert.equal(r.body.cost_usd, 0.012, '12,000 tokens at $0.000001');
  assert.equal(r.body.estimate.max_cost_usd, 0.001007, 'the hold covered the 1,000 tokens allowed and the 7 tokens of chat overhead');
  assert.equal(r.body.overrun_usd, 0.010993);
  assert.deepEqual(r.body.overuse.output_tokens, { allowed: 1000, reported: 12_000 }, 'and the request is flagged');
  assert.deepEqual(r.body.overuse.workers, ['greedy']);

  const audit = await h.call('GET', `/admin/audit?request_id=${r.body.request_id}`, { key: h.adminKey });
  const done = (audit.body.entries as { to: string; data: { overrun_nano?: number } }[]).find((e) => e.to === 'COMPLETED');
  assert.equal(done?.data.overrun_nano, 10_993_000);

  const usage = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
  assert.equal(usage.body.spent_usd, 0.012);
  assert.equal(usage.body.remaining_usd, 0);

  const next = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'greedy', input: {} } });
  assertEnvelope(next, 402, 'BUDGET_EXCEEDED');

  await h.call('PATCH', `/admin/clients/${c.id}`, { key: h.adminKey, json: { monthly_budget_usd: 0.02 } });
  const later = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'greedy', input: {} } });
  assert.equal(later.status, 202, 'room again once the budget allows it');
});
