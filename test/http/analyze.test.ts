/** /api/optimize/analyze and /recommendations look at a client's real history and price each strategy. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';

let worker: HttpWorkerServer;
let h: Harness;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    resources: {
      'llm.big': { kind: 'tokens', model: 'big', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.001 },
      'llm.small': { kind: 'tokens', model: 'small', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.0001 },
    },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: {
      plain: { worker: 'spender', model: 'small', max_tokens: 100 },
      smart: { worker: 'spender', model: 'big', max_tokens: 100, fallback_models: ['small'] },
    },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('repeats, primary-model runs and low-urgency work are priced from history', async () => {
  const c = await h.createClient('enterprise');
  const run = async (json: Record<string, unknown>) => {
    const r = await h.call('POST', '/api/execute', { key: c.key, json });
    assert.equal(r.body.status, 'COMPLETED', r.text);
  };
  for (let i = 0; i < 3; i++) await run({ template: 'plain', input: { text: 'same question' } }); // 2 repeats, $0.01 each
  await run({ template: 'plain', input: { text: 'another question' }, urgency: 'low' });
  await run({ template: 'smart', input: { text: 'hard question' } }); // 100 tokens on big: $0.10, on small $0.01

  const a = await h.call('POST', '/api/optimize/analyze', { key: c.key, json: {} });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.requests_analyzed, 5);
  const find = (strategy: string, template: string) => (a.body.findings as { strategy: string; template: string; affected: number; would_save_usd: number; message: string }[])
    .find((f) => f.strategy === strategy && f.template === template);
  const cache = find('cache', 'plain');
  assert.equal(cache?.affected, 2);
  assert.equal(cache?.would_save_usd, 0.02);
  assert.match(cache?.message ?? '', /50% of the requests to template plain were exact repeats within 1 hour: caching would have saved \$0\.02/);
  const down = find('downgrade', 'smart');
  assert.equal(down?.would_save_usd, 0.09);
  assert.equal(find('offpeak', 'plain')?.affected, 1);
  assert.equal(a.body.findings[0].strategy, 'downgrade', 'largest saving first');

  const rec = await h.call('GET', `/api/optimize/recommendations/${c.id}`, { key: c.key });
  assert.equal(rec.status, 200, rec.text);
  assert.equal(rec.body.recommendations.length, 3);
  const other = await h.createClient('basic');
  assert.equal((await h.call('GET', `/api/optimize/recommendations/${c.id}`, { key: other.key })).status, 403);
  assert.equal((await h.call('POST', '/api/optimize/analyze', { key: other.key, json: { client_id: c.id } })).status, 403);
});
