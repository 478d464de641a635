/**
 * The optimizer through the real server process and the example summarizer
 * worker: a cached repeat, a batch of three in one call, and a downgrade
 * under budget pressure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allotFiles, createClient, startAllot, startWorker, text, type AllotProc, type RunningWorker } from './harness.ts';

describe('optimizer with the example summarizer', () => {
  let worker: RunningWorker;
  let allot: AllotProc;

  before(async () => {
    worker = await startWorker('examples/summarizer/server.ts');
    const files = allotFiles({
      resources: {
        'llm.big': { kind: 'tokens', model: 'big', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.0001 },
        'llm.small': { kind: 'tokens', model: 'small', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.00001 },
      },
      workers: { summarizer: { transport: 'http', url: worker.url, max_concurrency: 8 } },
      templates: {
        cached: { worker: 'summarizer', model: 'small', max_tokens: 60, cache_ttl_s: 60 },
        batched: { worker: 'summarizer', model: 'small', max_tokens: 60, batch: { key: 'lang', window_ms: 300, max_size: 3 } },
        smart: { worker: 'summarizer', model: 'big', max_tokens: 60, fallback_models: ['small'], downgrade: { budget_threshold: 0.5 } },
      },
    });
    allot = await startAllot(files);
  });

  after(async () => {
    await allot?.stop();
    await worker?.proc.stop();
  });

  it('answers a repeat from the cache, batches three requests, and downgrades under budget pressure', async () => {
    const c = await createClient(allot, 'opt', 'standard', { monthly_budget_usd: 0.02 });
    const api = allot.as(c.key);
    const exec = async (body: Record<string, unknown>) => {
      const r = await api.request<Record<string, unknown>>('POST', '/api/execute', body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    };
    const first = await exec({ template: 'cached', input: { text: text(1, 5) } });
    const repeat = await exec({ template: 'cached', input: { text: text(1, 5) } });
    assert.deepEqual(repeat.cache, { hit: true, source_request_id: first.request_id });
    assert.equal(repeat.cost_usd, 0);
    assert.deepEqual(repeat.output, first.output);

    const batch = await Promise.all([0, 1, 2].map((i) => exec({ template: 'batched', input: { lang: 'en', text: text(10 + i, 4) } })));
    assert.deepEqual(batch.map((b) => b.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    for (const b of batch) assert.ok((b.usage as { tokens: { input: number } }).tokens.input > 0, 'each request has its own usage');

    // Spend on the expensive model until half the budget is used; then requests move to the cheaper one.
    let moved: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !moved; i++) {
      const r = await exec({ template: 'smart', input: { text: text(20 + i, 6) } });
      if (r.model === 'small') moved = r;
    }
    assert.ok(moved, 'a request was downgraded');
    assert.equal(moved.model_requested, 'big');
    assert.equal(moved.downgrade_reason, 'budget');

    const stats = await api.request<{ strategies: Record<string, { saved_usd: number; calls_saved: number }> }>('GET', `/api/optimize/stats/${c.id}`);
    assert.ok((stats.body.strategies.cache?.saved_usd ?? 0) > 0);
    assert.equal(stats.body.strategies.batching?.calls_saved, 2);
    assert.ok((stats.body.strategies.downgrade?.saved_usd ?? 0) > 0);
  });
});
