/**
 * Issue 9, finding 3: a client with a $0.01 budget, a gpt-3.5 template with
 * max_tokens 330, 200 concurrent submissions of "q 0" (3 tokens as counted)
 * and a worker that honours max_tokens but reports input 4 (providers bill
 * chat formatting). Without an input overhead in the hold, 20 were admitted
 * and the client ended at $0.010020 of $0.010000. With the default 7 tokens
 * of chat overhead the hold covers what is billed, and spend stays within
 * the budget. The same scenario on a resource with input_overhead_tokens 0
 * shows the overspend the overhead prevents.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { countTokens } from '../../src/service/tokenizer.ts';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

let worker: HttpWorkerServer;
let h: Harness;

before(async () => {
  worker = await serveHttp(
    defineWorker({
      name: 'chatty',
      dedupe: false,
      // Honours max_tokens; bills the text plus one token of formatting, as a provider would.
      handler: (job, ctx) => {
        ctx.addUsage({ inputTokens: 4, outputTokens: Number(job.parameters.max_tokens) });
        return { answer: '…' };
      },
    }),
  );
  h = await startHarness({
    resources: {
      // The default gpt-3.5 resource ($0.0015/1K, chat overhead 7 by default) and a copy without overhead.
      'gpt35-raw': { kind: 'tokens', model: 'gpt-3.5-raw', unit: 'token', capacity: 90_000, refill_per_s: 1_500, cost_per_unit_usd: 0.0015 / 1000, input_overhead_tokens: 0, tokenizer: 'cl100k_base' },
    },
    workers: { chatty: { transport: 'http', url: worker.url, max_concurrency: 50 } },
    templates: {
      ask: { worker: 'chatty', model: 'gpt-3.5', max_tokens: 330 },
      'ask-raw': { worker: 'chatty', model: 'gpt-3.5-raw', max_tokens: 330 },
    },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

async function flood(template: string): Promise<{ admitted: string[]; refused: number; key: string; id: string }> {
  const c = await h.createClient('standard', { monthly_budget_usd: 0.01 });
  const answers = await Promise.all(Array.from({ length: 200 }, () => h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template, input: { q: 'q 0' } } })));
  const admitted = answers.filter((a) => a.status === 202).map((a) => a.body.request_id as string);
  for (const a of answers) if (a.status !== 202) assert.equal(a.body.error.code, 'BUDGET_EXCEEDED', a.text);
  for (const id of admitted) assert.equal((await h.waitTerminal(id, c.key)).status, 'COMPLETED');
  return { admitted, refused: answers.length - admitted.length, key: c.key, id: c.id };
}

test('the hold counts chat overhead: 200 concurrent requests against $0.01 end within the budget', async () => {
  assert.equal(countTokens('q 0'), 3, 'the scenario: Allot counts 3 input tokens');
  const est = await h.call('POST', '/api/cost/estimate', { key: h.adminKey, json: { template: 'ask', input: { q: 'q 0' } } });
  assert.equal(est.body.input_tokens, 3);
  assert.equal(est.body.input_overhead_tokens, 7);
  assert.equal(est.body.max_cost_usd, 0.00051, '(3 + 7 + 330) tokens at $0.0015/1K');

  const r = await flood('ask');
  assert.equal(r.admitted.length, 19, 'floor($0.01 / $0.00051)');
  const usage = await h.call('GET', `/api/usage/${r.id}/current`, { key: r.key });
  assert.equal(usage.body.held_usd, 0);
  assert.equal(usage.body.spent_usd, 0.009519, '19 × (4 + 330) tokens at $0.0015/1K');
  assert.ok(usage.body.spent_usd <= 0.01, `spent ${usage.body.spent_usd} of 0.01`);
  for (const id of r.admitted) {
    const x = await h.call('GET', `/api/execution/${id}`, { key: r.key });
    assert.equal(x.body.overuse, null, 'billed within what was held: no overuse');
  }
});

test('without the overhead (input_overhead_tokens: 0) the same flood overspends: what the default prevents', async () => {
  const r = await flood('ask-raw');
  assert.equal(r.admitted.length, 20);
  const usage = await h.call('GET', `/api/usage/${r.id}/current`, { key: r.key });
  assert.equal(usage.body.spent_usd, 0.01002, '20 × 334 tokens: over the $0.01 budget');
  // Each answer billed more input than held: charged, and flagged.
  const x = await h.call('GET', `/api/execution/${r.admitted[0]}`, { key: r.key });
  assert.deepEqual(x.body.overuse.resources['gpt35-raw'], { reserved: 333, used: 334 });
  // Past its budget, the client gets nothing more until there is room.
  const later = await h.call('POST', '/api/queue/enqueue', { key: r.key, json: { template: 'ask-raw', input: { q: 'q 1' } } });
  assert.equal(later.status, 402);
  assert.equal(later.body.error.code, 'BUDGET_EXCEEDED');
  await h.call('PATCH', `/admin/clients/${r.id}`, { key: h.adminKey, json: { monthly_budget_usd: 0.02 } });
  assert.equal((await h.call('POST', '/api/queue/enqueue', { key: r.key, json: { template: 'ask-raw', input: { q: 'q 1' } } })).status, 202);
});
