/** Submission: validation, estimates, limits, Idempotency-Key and budgets. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nanoToUsd, usdToNano } from '../../src/core/money.ts';
import { countTokens } from '../../src/service/tokenizer.ts';
import { assertEnvelope, startHarness, type Harness } from '../helpers/app-harness.ts';
import { ARTICLE, baseConfig, MAX_BODY_BYTES, OVERHEAD, PRICES, startWorkers, SUMMARIZE_MAX_TOKENS, TINY_CAPACITY, type Workers } from './fixtures.ts';

let h: Harness;
let w: Workers;

before(async () => {
  w = await startWorkers();
  h = await startHarness(baseConfig(w));
});

after(async () => {
  await h?.close();
  await w?.close();
});

const enqueue = (key: string, json: unknown, headers?: Record<string, string>) => h.call('POST', '/api/queue/enqueue', { key, json, ...(headers ? { headers } : {}) });

describe('POST /api/queue/enqueue', () => {
  test('202 with request_id and an estimate whose input tokens come from the real tokenizer', async () => {
    const c = await h.createClient('standard');
    // Code and non-English text: a chars/4 heuristic would be far off here.
    const text = 'const x = await fetch(`https://example.com/${id}`); // Größenordnung: 東京都の人口は約1400万人です。';
    const r = await enqueue(c.key, { template: 'summarize', input: { text } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.success, true);
    assert.match(r.body.request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(r.body.status, 'PENDING');
    assert.equal(r.body.status_url, `/api/execution/${r.body.request_id}`);
    const tokens = countTokens(text);
    assert.ok(tokens > 0);
    assert.notEqual(tokens, Math.ceil(text.length / 4), 'the sample text must tell a tokenizer from a heuristic');
    assert.equal(r.body.estimate.input_tokens, tokens);
    assert.equal(r.body.estimate.max_output_tokens, SUMMARIZE_MAX_TOKENS);
    assert.equal(r.body.estimate.input_overhead_tokens, OVERHEAD, 'chat formatting the provider bills beyond the text');
    assert.deepEqual(r.body.estimate.resources, { 'llm.mini': tokens + OVERHEAD + SUMMARIZE_MAX_TOKENS });
    const worst = nanoToUsd(usdToNano((tokens + OVERHEAD) * PRICES.miniInput + SUMMARIZE_MAX_TOKENS * PRICES.miniOutput));
    assert.equal(r.body.estimate.max_cost_usd, worst);

    // The same estimate from the estimate endpoints, without admitting anything.
    const est = await h.call('POST', '/api/resources/estimate', { key: c.key, json: { template: 'summarize', input: { text } } });
    assert.equal(est.status, 200, est.text);
    assert.deepEqual(est.body.estimate, r.body.estimate);
    const cost = await h.call('POST', '/api/cost/estimate', { key: c.key, json: { template: 'summarize', input: { text } } });
    assert.equal(cost.status, 200, cost.text);
    assert.equal(cost.body.input_tokens, tokens);
    assert.equal(cost.body.max_cost_usd, worst);
    assert.equal(cost.body.budget.fits, true);

    await h.waitTerminal(r.body.request_id, c.key);
  });

  test('a lower max_tokens lowers the estimate; above the template cap is 400', async () => {
    const c = await h.createClient('standard');
    const low = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE }, max_tokens: 20 });
    assert.equal(low.status, 202, low.text);
    assert.equal(low.body.estimate.max_output_tokens, 20);
    const over = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE }, max_tokens: SUMMARIZE_MAX_TOKENS + 1 });
    assertEnvelope(over, 400, 'VALIDATION_ERROR');
    assert.match(over.body.error.message, /max_tokens/);
    assert.equal(over.body.error.details.cap, SUMMARIZE_MAX_TOKENS);
    const noModel = await enqueue(c.key, { template: 'lab', input: { mode: 'echo' }, max_tokens: 5 });
    assertEnvelope(noModel, 400, 'VALIDATION_ERROR');
    assert.match(noModel.body.error.message, /max_tokens/);
    await h.waitTerminal(low.body.request_id, c.key);
  });

  test('unknown fields, bad values and unknown templates are 400 naming the field', async () => {
    const c = await h.createClient('standard');
    const extra = await enqueue(c.key, { template: 'summarize', input: { text: 'hi' }, priority: 99 });
    assertEnvelope(extra, 400, 'VALIDATION_ERROR');
    assert.match(extra.body.error.message, /\bpriority\b/);
    assert.deepEqual(extra.body.error.details.fields, [{ field: 'priority', message: 'unknown field' }]);

    const urgency = await enqueue(c.key, { template: 'summarize', input: { text: 'hi' }, urgency: 'asap' });
    assertEnvelope(urgency, 400, 'VALIDATION_ERROR');
    assert.match(urgency.body.error.message, /\burgency\b/);

    const noInput = await enqueue(c.key, { template: 'summarize' });
    assertEnvelope(noInput, 400, 'VALIDATION_ERROR');
    assert.match(noInput.body.error.message, /\binput\b/);

    const arrayInput = await enqueue(c.key, { template: 'summarize', input: ['a'] });
    assertEnvelope(arrayInput, 400, 'VALIDATION_ERROR');
    assert.match(arrayInput.body.error.message, /\binput\b/);

    const tpl = await enqueue(c.key, { template: 'translate', input: { text: 'hi' } });
    assertEnvelope(tpl, 400, 'VALIDATION_ERROR');
    assert.match(tpl.body.error.message, /"translate"/);
    assert.match(tpl.body.error.message, /summarize/, 'lists the known templates');

    const list = await h.call('GET', '/api/executions', { key: c.key });
    assert.equal(list.body.requests.length, 0, 'nothing invalid was queued');
  });

  test('malformed JSON is 400 VALIDATION_ERROR', async () => {
    const c = await h.createClient('standard');
    for (const body of ['{"template": "summarize", "input": {', 'not json', '']) {
      const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, body });
      assertEnvelope(r, 400, 'VALIDATION_ERROR');
    }
    const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, body: '{"template": ' });
    assert.match(r.body.error.message, /JSON/);
  });

  test('a body over limits.max_body_bytes is 413 PAYLOAD_TOO_LARGE', async () => {
    const c = await h.createClient('standard');
    const big = JSON.stringify({ template: 'summarize', input: { text: 'a '.repeat(MAX_BODY_BYTES) } });
    const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, body: big });
    assertEnvelope(r, 413, 'PAYLOAD_TOO_LARGE');
    assert.equal(r.body.error.details.limit_bytes, MAX_BODY_BYTES);
    // Also when the client declares the length up front.
    const declared = await h.call('POST', '/api/queue/enqueue', { key: c.key, body: big, headers: { 'content-length': String(Buffer.byteLength(big)) } });
    assertEnvelope(declared, 413, 'PAYLOAD_TOO_LARGE');
    // Just under the limit is accepted.
    const text = 'a '.repeat(Math.floor((MAX_BODY_BYTES - 100) / 2));
    const ok = await enqueue(c.key, { template: 'summarize', input: { text }, max_tokens: 10 });
    assert.equal(ok.status, 202, ok.text);
    await h.waitTerminal(ok.body.request_id, c.key);
  });

  test('a request that can never fit its bucket is 400 naming the resource', async () => {
    const c = await h.createClient('standard');
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(10);
    const tokens = countTokens(text);
    assert.ok(tokens + OVERHEAD + 250 > TINY_CAPACITY && tokens + OVERHEAD + 10 <= TINY_CAPACITY, `fixture: ${tokens} tokens`);
    const r = await enqueue(c.key, { template: 'tiny-sum', input: { text } });
    assertEnvelope(r, 400, 'VALIDATION_ERROR');
    assert.match(r.body.error.message, /llm\.tiny/);
    assert.deepEqual(r.body.error.details, { resource: 'llm.tiny', needed: tokens + OVERHEAD + 250, capacity: TINY_CAPACITY, input_tokens: tokens, input_overhead_tokens: OVERHEAD, max_tokens: 250 });
    // The same input fits with a smaller max_tokens.
    const ok = await enqueue(c.key, { template: 'tiny-sum', input: { text }, max_tokens: 10 });
    assert.equal(ok.status, 202, ok.text);
    const done = await h.waitTerminal(ok.body.request_id, c.key);
    assert.equal(done.status, 'COMPLETED');
  });

  test('POST /api/resources/check names an unknown resource', async () => {
    const c = await h.createClient('standard');
    const ok = await h.call('POST', '/api/resources/check', { key: c.key, json: { resources: { 'llm.tiny': 10 } } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.available, true);
    assert.equal(ok.body.wait_ms, 0);
    assert.equal(ok.body.resources['llm.tiny'].capacity, TINY_CAPACITY);
    const never = await h.call('POST', '/api/resources/check', { key: c.key, json: { resources: { 'llm.tiny': TINY_CAPACITY + 1 } } });
    assert.equal(never.status, 200);
    assert.equal(never.body.available, false);
    assert.equal(never.body.resources['llm.tiny'].fits_now, false);
    assert.equal(never.body.resources['llm.tiny'].wait_ms, null, 'more than the capacity never fits');
    const bad = await h.call('POST', '/api/resources/check', { key: c.key, json: { resources: { unicorns: 1 } } });
    assertEnvelope(bad, 400, 'VALIDATION_ERROR');
    assert.match(bad.body.error.message, /unicorns/);
  });
});

describe('Idempotency-Key', () => {
  test('same key and body → 200 with the same request; one request exists', async () => {
    const c = await h.createClient('standard');
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    try {
      const body = { template: 'summarize', input: { text: ARTICLE, sentences: 2 }, urgency: 'high' };
      const first = await enqueue(c.key, body, { 'Idempotency-Key': 'order-42' });
      assert.equal(first.status, 202, first.text);
      // Same body with keys in another order is the same body.
      const again = await enqueue(c.key, { urgency: 'high', input: { sentences: 2, text: ARTICLE }, template: 'summarize' }, { 'Idempotency-Key': 'order-42' });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.request_id, first.body.request_id);
      // /api/execute with the same key and body is the same request too.
      const third = await enqueue(c.key, body, { 'Idempotency-Key': 'order-42' });
      assert.equal(third.body.request_id, first.body.request_id);

      const list = await h.call('GET', '/api/executions', { key: c.key });
      assert.equal(list.body.requests.length, 1);
      assert.equal(list.body.requests[0].idempotency_key, 'order-42');
      // Only one hold was taken.
      const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
      assert.equal(cur.body.held_usd, first.body.estimate.max_cost_usd);

      // Keys are per client: another client's same key is a different request.
      const other = await h.createClient('standard');
      const theirs = await enqueue(other.key, body, { 'Idempotency-Key': 'order-42' });
      assert.equal(theirs.status, 202);
      assert.notEqual(theirs.body.request_id, first.body.request_id);

      const mismatch = await enqueue(c.key, { ...body, urgency: 'low' }, { 'Idempotency-Key': 'order-42' });
      assertEnvelope(mismatch, 422, 'IDEMPOTENCY_MISMATCH');
      assert.equal(mismatch.body.error.details.request_id, first.body.request_id);
      assert.equal((await h.call('GET', '/api/executions', { key: c.key })).body.requests.length, 1);
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
  });

  test('200 keys × 10 racing copies: one request per key, one hold each (a probe found this holds; kept from regressing)', async () => {
    const c = await h.createClient('enterprise', { monthly_budget_usd: 1000 });
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 * 10 }, (_, i) => enqueue(c.key, { template: 'summarize', input: { text: `question ${i % 200}` } }, { 'Idempotency-Key': `race-${i % 200}` })),
      );
      const byKey = new Map<number, Set<string>>();
      for (const [i, a] of answers.entries()) {
        assert.ok(a.status === 202 || a.status === 200, a.text);
        const set = byKey.get(i % 200) ?? new Set<string>();
        set.add(a.body.request_id);
        byKey.set(i % 200, set);
      }
      for (const [k, ids] of byKey) assert.equal(ids.size, 1, `key race-${k} made ${ids.size} requests`);
      assert.equal(answers.filter((a) => a.status === 202).length, 200, 'each key created once (202), the copies answered 200');
      const list = await h.call('GET', '/api/executions?limit=1000', { key: c.key });
      assert.equal(list.body.requests.length, 200);
      const each = answers[0]?.body.estimate.max_cost_usd as number;
      const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
      const expected = (list.body.requests as { estimate: { max_cost_usd: number } }[]).reduce((a, r) => a + usdToNano(r.estimate.max_cost_usd), 0);
      assert.ok(each > 0);
      assert.equal(usdToNano(cur.body.held_usd), expected, 'one hold per request, none for the copies');
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
  });

  test('/api/execute honours Idempotency-Key: a repeat returns the finished request', async () => {
    const c = await h.createClient('standard');
    const body = { template: 'summarize', input: { text: ARTICLE } };
    const first = await h.call('POST', '/api/execute', { key: c.key, json: body, headers: { 'Idempotency-Key': 'exec-1' } });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.status, 'COMPLETED');
    const again = await h.call('POST', '/api/execute', { key: c.key, json: body, headers: { 'Idempotency-Key': 'exec-1' } });
    assert.equal(again.status, 200);
    assert.equal(again.body.request_id, first.body.request_id);
    assert.equal(again.body.status, 'COMPLETED');
    assert.deepEqual(again.body.output, first.body.output);
    const mismatch = await h.call('POST', '/api/execute', { key: c.key, json: { ...body, urgency: 'critical' }, headers: { 'Idempotency-Key': 'exec-1' } });
    assertEnvelope(mismatch, 422, 'IDEMPOTENCY_MISMATCH');
  });
});

describe('budget', () => {
  test('402 BUDGET_EXCEEDED once holds would pass a custom budget; usage/current agrees', async () => {
    const probe = await h.call('POST', '/api/resources/estimate', { key: h.adminKey, json: { template: 'summarize', input: { text: ARTICLE } } });
    const each: number = probe.body.estimate.max_cost_usd;
    assert.ok(each > 0);
    // Room for two and a bit: past the quick lower-bound check (an empty input), refused by the atomic hold.
    const budget = nanoToUsd(3 * usdToNano(each) - 1);
    const c = await h.createClient('basic', { monthly_budget_usd: budget });
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const r = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE } });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.body.estimate.max_cost_usd, each);
        ids.push(r.body.request_id);
      }
      const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
      assert.equal(cur.status, 200);
      assert.equal(cur.body.budget_usd, budget);
      assert.equal(cur.body.spent_usd, 0);
      assert.equal(cur.body.held_usd, nanoToUsd(2 * usdToNano(each)));
      assert.equal(cur.body.remaining_usd, nanoToUsd(usdToNano(budget) - 2 * usdToNano(each)));
      assert.match(cur.body.period, /^\d{4}-\d{2}$/);

      const costEst = await h.call('POST', '/api/cost/estimate', { key: c.key, json: { template: 'summarize', input: { text: ARTICLE } } });
      assert.equal(costEst.body.budget.fits, false);
      assert.equal(costEst.body.budget.remaining_usd, cur.body.remaining_usd);

      const refused = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE } });
      assertEnvelope(refused, 402, 'BUDGET_EXCEEDED');
      const d = refused.body.error.details;
      assert.equal(d.required_nano, usdToNano(each));
      assert.equal(d.held_nano, 2 * usdToNano(each));
      assert.equal(d.spent_nano, 0);
      assert.equal(d.limit_nano, usdToNano(budget));
      assert.equal(d.remaining_nano, usdToNano(budget) - 2 * usdToNano(each));
      assert.equal(d.period, cur.body.period);

      assert.equal(d.required_is_lower_bound, undefined, 'refused by the atomic hold, with the full estimate');

      // Nothing changed by the refusal.
      const after402 = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
      assert.equal(after402.body.held_usd, cur.body.held_usd);
      assert.equal((await h.call('GET', '/api/executions', { key: c.key })).body.requests.length, 2);

      // A smaller request still fits what remains.
      const small = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE }, max_tokens: 10 });
      assert.equal(small.status, 202, small.text);
      ids.push(small.body.request_id);
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
    // Once they ran, spend is the real cost and the holds are gone.
    const done = await Promise.all(ids.map((id) => h.waitTerminal(id, c.key)));
    for (const x of done) assert.equal(x.status, 'COMPLETED');
    const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(cur.body.held_usd, 0);
    const spent = done.reduce((a, x) => a + usdToNano(x.cost_usd), 0);
    assert.equal(cur.body.spent_usd, nanoToUsd(spent));
    assert.ok(spent > 0 && spent <= usdToNano(budget));
    assert.equal(cur.body.remaining_usd, nanoToUsd(usdToNano(budget) - spent));

    const hist = await h.call('GET', `/api/usage/${c.id}`, { key: c.key });
    assert.equal(hist.status, 200);
    const row = hist.body.by_template.find((t: { template: string }) => t.template === 'summarize');
    assert.equal(row.requests, 3);
    assert.equal(row.completed, 3);
    assert.equal(row.cost_usd, nanoToUsd(spent));
    assert.equal(hist.body.total_cost_usd, nanoToUsd(spent));
    assert.equal(row.tokens.input, done.reduce((a, x) => a + x.usage.tokens.input, 0));
  });

  test('an admin-only alert fires for a client over 95% of its budget', async () => {
    const probe = await h.call('POST', '/api/resources/estimate', { key: h.adminKey, json: { template: 'summarize', input: { text: ARTICLE } } });
    const each: number = probe.body.estimate.max_cost_usd;
    const c = await h.createClient('basic', { monthly_budget_usd: each });
    await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
    try {
      const r = await enqueue(c.key, { template: 'summarize', input: { text: ARTICLE } });
      assert.equal(r.status, 202, r.text);
      const alerts = await h.call('GET', '/admin/alerts', { key: h.adminKey });
      assert.equal(alerts.status, 200);
      const mine = alerts.body.alerts.find((a: { kind: string; subject: string }) => a.kind === 'budget_high' && a.subject === c.id);
      assert.ok(mine, alerts.text);
      assert.equal(mine.severity, 'critical');
      await h.call('DELETE', `/api/queue/${r.body.request_id}`, { key: c.key });
      const cleared = await h.call('GET', '/admin/alerts', { key: h.adminKey });
      assert.ok(!cleared.body.alerts.some((a: { subject: string }) => a.subject === c.id), 'the hold was released, so the alert clears');
    } finally {
      await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
    }
  });
});

describe('queue limit', () => {
  test('past scheduler.max_queue_depth submissions get 503 QUEUE_BACKUP with Retry-After', async () => {
    const h2 = await startHarness({ ...baseConfig(w), scheduler: { max_queue_depth: 2 } });
    try {
      const c = await h2.createClient('standard');
      await h2.call('POST', '/admin/scheduler/stop', { key: h2.adminKey });
      for (let i = 0; i < 2; i++) assert.equal((await h2.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'lab', input: { mode: 'echo' } } })).status, 202);
      const r = await h2.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'lab', input: { mode: 'echo' } } });
      assertEnvelope(r, 503, 'QUEUE_BACKUP');
      assert.equal(r.headers.get('retry-after'), '5');
      await h2.call('POST', '/admin/scheduler/start', { key: h2.adminKey });
      const list = await h2.call('GET', '/api/executions', { key: c.key });
      assert.equal(list.body.requests.length, 2);
      for (const x of list.body.requests) assert.equal((await h2.waitTerminal(x.request_id, c.key)).status, 'COMPLETED');
      assert.equal((await h2.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'lab', input: { mode: 'echo' } } })).status, 202, 'room again');
      assert.deepEqual(h2.internalErrors, []);
    } finally {
      await h2.close();
    }
  });
});

test('no request caused an internal error', () => {
  assert.deepEqual(h.internalErrors, []);
});
