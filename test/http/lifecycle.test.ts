/**
 * A request's life over HTTP with real SDK workers: execute, priority and
 * queue position, cancellation, retries, timeouts, progress.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defineWorker, serveHttp } from '../../packages/worker/src/index.ts';
import { tokenCount } from '../../examples/summarizer/summarize.ts';
import { nanoToUsd, usdToNano } from '../../src/core/money.ts';
import { countTokens } from '../../src/service/tokenizer.ts';
import { assertEnvelope, startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { ARTICLE, baseConfig, PRICES, startWorkers, type Workers } from './fixtures.ts';

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

const pause = async () => assert.equal((await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey })).body.scheduler, 'paused');
const resume = async () => assert.equal((await h.call('POST', '/admin/scheduler/start', { key: h.adminKey })).body.scheduler, 'running');
const enqueue = async (key: string, json: unknown): Promise<string> => {
  const r = await h.call('POST', '/api/queue/enqueue', { key, json });
  assert.equal(r.status, 202, r.text);
  return r.body.request_id;
};
const audit = async (id: string): Promise<Json[]> => (await h.call('GET', `/admin/audit?request_id=${id}`, { key: h.adminKey })).body.entries;

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('POST /api/execute', () => {
  test('runs on the summarizer and answers 200 COMPLETED with output, usage and cost at the model price', async () => {
    const c = await h.createClient('premium');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'summarize', input: { text: ARTICLE, sentences: 2 } } });
    assert.equal(r.status, 200, r.text);
    const x = r.body;
    assert.equal(x.status, 'COMPLETED');
    assert.equal(x.client_id, c.id);
    assert.equal(x.template, 'summarize');
    assert.equal(x.model, 'mini');
    assert.equal(x.attempts, 1);
    assert.equal(x.error, null);
    // Premium tier 30 points, default urgency normal 10 (SPEC section 4).
    assert.equal(x.urgency, 'normal');
    assert.equal(x.priority.parts.tier, 30);
    assert.equal(x.priority.parts.urgency, 10);
    assert.ok(x.priority.parts.wait >= 0 && x.priority.parts.wait < 1);
    assert.ok(x.priority.parts.fairness >= 0 && x.priority.parts.fairness <= 10);
    assert.ok(Math.abs(x.priority.score - (x.priority.parts.tier + x.priority.parts.urgency + x.priority.parts.wait + x.priority.parts.fairness)) < 0.011);
    assert.equal(typeof x.output.summary, 'string');
    assert.equal(x.output.sentences.length, 2);
    assert.ok(x.output.summary.includes('battery storage'), x.output.summary);
    // The worker counted the text it read; Allot's tokenizer agrees (both cl100k_base).
    assert.equal(x.usage.tokens.input, tokenCount(ARTICLE));
    assert.equal(x.usage.tokens.input, countTokens(ARTICLE));
    assert.equal(x.usage.tokens.output, tokenCount(x.output.summary));
    const expected = nanoToUsd(usdToNano(x.usage.tokens.input * PRICES.miniInput + x.usage.tokens.output * PRICES.miniOutput));
    assert.ok(expected > 0);
    assert.equal(x.cost_usd, expected);
    assert.ok(x.cost_usd <= x.estimate.max_cost_usd, 'actual cost within the worst-case estimate');
    assert.equal(x.hold_usd, 0);
    assert.ok(x.started_at && x.completed_at && x.created_at);
    assert.ok(Date.parse(x.created_at) <= Date.parse(x.started_at) && Date.parse(x.started_at) <= Date.parse(x.completed_at));

    const cost = await h.call('GET', `/api/cost/${x.request_id}`, { key: c.key });
    assert.equal(cost.status, 200);
    assert.equal(cost.body.cost_usd, expected);
    assert.equal(cost.body.final, true);
    assert.equal(cost.body.status, 'COMPLETED');
    assert.equal(cost.body.model, 'mini');
    assert.deepEqual(cost.body.usage.tokens, x.usage.tokens);

    const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(cur.body.spent_usd, expected);
    assert.equal(cur.body.held_usd, 0);

    const same = await h.call('GET', `/api/execution/${x.request_id}`, { key: c.key });
    assert.equal(same.body.status, 'COMPLETED');
    assert.deepEqual(same.body.output, x.output);

    // The audit log has every transition, in order.
    const states = (await audit(x.request_id)).filter((e) => e.kind === 'transition').map((e) => e.to);
    assert.deepEqual(states, ['PENDING', 'PREPARING', 'RUNNING', 'COMPLETED']);
  });

  test('wait_ms: 0 answers 202 at once; the request then completes', async () => {
    const c = await h.createClient('standard');
    const t0 = Date.now();
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'summarize-slow', input: { text: ARTICLE }, wait_ms: 0 } });
    assert.equal(r.status, 202, r.text);
    assert.ok(Date.now() - t0 < 1000, 'answered without waiting for the result');
    assert.equal(r.body.success, true);
    assert.ok(['PENDING', 'PREPARING', 'RUNNING'].includes(r.body.status), r.body.status);
    assert.equal(r.body.status_url, `/api/execution/${r.body.request_id}`);
    const done = await h.waitTerminal(r.body.request_id, c.key);
    assert.equal(done.status, 'COMPLETED');
  });

  test('wait_ms shorter than the work answers 202 after about that long', async () => {
    const c = await h.createClient('standard');
    const t0 = Date.now();
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'summarize-slow', input: { text: ARTICLE }, wait_ms: 60 } });
    const took = Date.now() - t0;
    assert.equal(r.status, 202, r.text);
    assert.ok(took >= 55, `waited about wait_ms (took ${took} ms)`);
    assert.equal((await h.waitTerminal(r.body.request_id, c.key)).status, 'COMPLETED');
  });
});

describe('cost of other resources', () => {
  test('resources a worker reports are charged at their price; the hold covered the template estimate', async () => {
    const c = await h.createClient('standard');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'lab-mail', input: { mode: 'echo', resources: { email: 3 } } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'COMPLETED');
    assert.deepEqual(r.body.estimate.resources, { email: 2 });
    assert.equal(r.body.estimate.max_cost_usd, nanoToUsd(usdToNano(2 * 0.0001)));
    assert.deepEqual(r.body.usage.resources, { email: 3 });
    assert.equal(r.body.cost_usd, nanoToUsd(usdToNano(3 * 0.0001)), 'overuse is charged');
    const cur = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(cur.body.spent_usd, r.body.cost_usd);
    assert.equal(cur.body.held_usd, 0);
  });
});

describe('priority, position and cancellation', () => {
  test('positions follow priority; DELETE cancels and releases the hold; finished requests cannot be cancelled', async () => {
    const basic = await h.createClient('basic');
    const standard = await h.createClient('standard');
    const ent = await h.createClient('enterprise');
    await pause();
    let low: string;
    let mid: string;
    let top: string;
    try {
      low = await enqueue(basic.key, { template: 'summarize', input: { text: ARTICLE }, urgency: 'low' });
      mid = await enqueue(standard.key, { template: 'summarize', input: { text: ARTICLE } });
      top = await enqueue(ent.key, { template: 'summarize', input: { text: ARTICLE }, urgency: 'critical' });

      const pos = async (id: string, key: string) => {
        const r = await h.call('GET', `/api/queue/position/${id}`, { key });
        assert.equal(r.status, 200, r.text);
        return r.body;
      };
      const pTop = await pos(top, ent.key);
      const pMid = await pos(mid, standard.key);
      const pLow = await pos(low, basic.key);
      assert.deepEqual([pTop.position, pMid.position, pLow.position], [1, 2, 3]);
      assert.equal(pTop.ahead, 0);
      assert.equal(pLow.ahead, 2);
      for (const p of [pTop, pMid, pLow]) assert.equal(p.queue_depth, 3);
      assert.equal(pTop.status, 'PENDING');

      // Score parts (SPEC section 4): tier, urgency, wait (0-20, tiny so far), fairness (10: nobody has used anything).
      const check = async (id: string, key: string, tier: number, urgency: number, level: string) => {
        const r = await h.call('GET', `/api/execution/${id}`, { key });
        const p = r.body.priority;
        assert.equal(p.parts.tier, tier);
        assert.equal(p.parts.urgency, urgency);
        assert.ok(p.parts.wait >= 0 && p.parts.wait < 1, `wait ${p.parts.wait}`);
        assert.equal(p.parts.fairness, 10);
        assert.ok(Math.abs(p.score - (p.parts.tier + p.parts.urgency + p.parts.wait + p.parts.fairness)) < 0.011);
        assert.equal(r.body.level, level);
        assert.equal(r.body.status, 'PENDING');
        return r.body;
      };
      const xTop = await check(top, ent.key, 40, 30, 'immediate');
      await check(mid, standard.key, 20, 10, 'normal');
      const xLow = await check(low, basic.key, 10, 0, 'batch');
      assert.equal(xTop.queue_position, 0, 'execution view: 0 requests ahead');
      assert.equal(xLow.queue_position, 2);

      const qs = await h.call('GET', '/api/queue/status', { key: h.adminKey });
      assert.equal(qs.body.queued, 3);
      assert.equal(qs.body.scheduler, 'paused');
      assert.equal(qs.body.levels.immediate.depth, 1);
      assert.equal(qs.body.levels.normal.depth, 1);
      assert.equal(qs.body.levels.batch.depth, 1);

      const heldBefore = (await h.call('GET', `/api/usage/${basic.id}/current`, { key: basic.key })).body;
      assert.equal(heldBefore.held_usd, xLow.estimate.max_cost_usd);
      const del = await h.call('DELETE', `/api/queue/${low}`, { key: basic.key });
      assert.equal(del.status, 200, del.text);
      assert.equal(del.body.status, 'CANCELLED');
      assert.equal(del.body.hold_usd, 0);
      const heldAfter = (await h.call('GET', `/api/usage/${basic.id}/current`, { key: basic.key })).body;
      assert.equal(heldAfter.held_usd, 0);
      assert.equal(heldAfter.spent_usd, 0);
      assert.equal(heldAfter.remaining_usd, heldAfter.budget_usd);

      const gone = await pos(low, basic.key);
      assert.equal(gone.status, 'CANCELLED');
      assert.equal(gone.position, null);
      assert.equal((await pos(top, ent.key)).queue_depth, 2);
      assertEnvelope(await h.call('DELETE', `/api/queue/${low}`, { key: basic.key }), 409, 'CONFLICT');
      assertEnvelope(await h.call('POST', `/api/execution/${low}/cancel`, { key: basic.key }), 409, 'CONFLICT');
    } finally {
      await resume();
    }
    const [dTop, dMid] = await Promise.all([h.waitTerminal(top, ent.key), h.waitTerminal(mid, standard.key)]);
    assert.equal(dTop.status, 'COMPLETED');
    assert.equal(dMid.status, 'COMPLETED');
    // The enterprise-critical request was claimed first.
    const claimSeq = async (id: string) => (await audit(id)).find((e) => e.to === 'PREPARING').seq as number;
    assert.ok((await claimSeq(top)) < (await claimSeq(mid)));
    assert.equal((await h.call('GET', `/api/execution/${low}`, { key: basic.key })).body.status, 'CANCELLED', 'a cancelled request never runs');

    const fin = await h.call('DELETE', `/api/queue/${top}`, { key: ent.key });
    assertEnvelope(fin, 409, 'CONFLICT');
    assert.equal(fin.body.error.details.status, 'COMPLETED');
    const fin2 = await h.call('POST', `/api/execution/${top}/cancel`, { key: ent.key });
    assertEnvelope(fin2, 409, 'CONFLICT');
    assert.equal(fin2.body.error.details.status, 'COMPLETED');
    assert.equal((await h.call('GET', `/api/execution/${top}`, { key: ent.key })).body.status, 'COMPLETED');
  });

  test('a RUNNING request: DELETE /api/queue is 409, POST …/cancel cancels it and aborts the worker', async () => {
    const c = await h.createClient('standard');
    const id = await enqueue(c.key, { template: 'lab', input: { mode: 'gate' } });
    await w.lab.reached(id);
    const running = await until('RUNNING', async () => {
      const r = await h.call('GET', `/api/execution/${id}`, { key: c.key });
      return r.body.status === 'RUNNING' ? r.body : undefined;
    });
    assert.equal(running.attempts, 1);
    const del = await h.call('DELETE', `/api/queue/${id}`, { key: c.key });
    assertEnvelope(del, 409, 'CONFLICT');
    assert.equal(del.body.error.details.status, 'RUNNING');
    const cancel = await h.call('POST', `/api/execution/${id}/cancel`, { key: c.key });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.body.status, 'CANCELLED');
    const qs = await h.call('GET', '/api/queue/status', { key: c.key });
    assert.equal(qs.body.client.running, 0, 'the concurrency slot is free at once');
    // The worker's late answer (it was aborted) does not revive the request.
    await new Promise((r) => setTimeout(r, 50));
    const x = (await h.call('GET', `/api/execution/${id}`, { key: c.key })).body;
    assert.equal(x.status, 'CANCELLED');
    assert.equal(x.output, null);
  });

  test('a request waiting for its retry can be removed from the queue; it never runs again', async () => {
    const c = await h.createClient('standard');
    assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'lab-patient', worker: 'lab', retry: { base_delay_ms: 400, max_delay_ms: 400 } } })).status, 201);
    const id = await enqueue(c.key, { template: 'lab-patient', input: { mode: 'flaky', succeed_on: 2 } });
    const waiting = await until('WAITING_RETRY', async () => {
      const r = await h.call('GET', `/api/execution/${id}`, { key: c.key });
      return r.body.status === 'WAITING_RETRY' ? r.body : undefined;
    });
    assert.equal(waiting.error.code, 'FLAKY');
    assert.ok(waiting.next_attempt_at);
    const pos = await h.call('GET', `/api/queue/position/${id}`, { key: c.key });
    assert.equal(pos.body.position, null);
    assert.equal(pos.body.next_attempt_at, waiting.next_attempt_at);
    assert.equal((await h.call('GET', '/api/queue/status', { key: c.key })).body.waiting_retry, 1);
    const del = await h.call('DELETE', `/api/queue/${id}`, { key: c.key });
    assert.equal(del.status, 200, del.text);
    assert.equal(del.body.status, 'CANCELLED');
    assert.equal((await h.call('GET', '/api/queue/status', { key: c.key })).body.waiting_retry, 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(w.lab.attempts.get(id), [1], 'the retry never ran');
    assert.equal((await h.call('GET', `/api/execution/${id}`, { key: c.key })).body.status, 'CANCELLED');
  });

  test('POST /api/execute waiting on a request that is cancelled answers 200 CANCELLED', async () => {
    const c = await h.createClient('standard');
    const pending = h.call('POST', '/api/execute', { key: c.key, json: { template: 'lab', input: { mode: 'gate' } } });
    const running = await until('a RUNNING request', async () => (await h.call('GET', '/api/executions?status=RUNNING', { key: c.key })).body.requests[0]);
    const cancel = await h.call('POST', `/api/execution/${running.request_id}/cancel`, { key: c.key });
    assert.equal(cancel.status, 200);
    const r = await pending;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'CANCELLED');
    assert.equal(r.body.request_id, running.request_id);
  });

  test("a client's max concurrency holds its extra work back while others run", async () => {
    const c = await h.createClient('startup'); // max_concurrent 2, 15 priority points (from the config file)
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await enqueue(c.key, { template: 'lab', input: { mode: 'gate' }, urgency: 'high' }));
    const parts = (await h.call('GET', `/api/execution/${ids[2]}`, { key: c.key })).body.priority.parts;
    assert.equal(parts.tier, 15);
    assert.equal(parts.urgency, 20);
    await Promise.all([w.lab.reached(ids[0] as string), w.lab.reached(ids[1] as string)]);
    const other = await h.createClient('basic');
    const o = await h.call('POST', '/api/execute', { key: other.key, json: { template: 'lab', input: { mode: 'echo' } } });
    assert.equal(o.body.status, 'COMPLETED', 'another client is not blocked');
    const third = (await h.call('GET', `/api/execution/${ids[2]}`, { key: c.key })).body;
    assert.equal(third.status, 'PENDING');
    assert.equal((await h.call('GET', '/api/queue/status', { key: c.key })).body.client.running, 2);
    w.lab.release(ids[0] as string);
    await w.lab.reached(ids[2] as string);
    w.lab.release(ids[1] as string);
    w.lab.release(ids[2] as string);
    for (const id of ids) assert.equal((await h.waitTerminal(id, c.key)).status, 'COMPLETED');
  });
});

describe('retries, failures and timeouts', () => {
  test('retryable failures twice, then success → COMPLETED after 3 attempts', async () => {
    const c = await h.createClient('standard');
    const id = await enqueue(c.key, { template: 'lab', input: { mode: 'flaky', succeed_on: 3 } });
    const x = await h.waitTerminal(id, c.key);
    assert.equal(x.status, 'COMPLETED', JSON.stringify(x.error));
    assert.equal(x.attempts, 3);
    assert.deepEqual(x.output, { ok: true, attempt: 3 });
    assert.deepEqual(w.lab.attempts.get(id), [1, 2, 3]);
    const states = (await audit(id)).filter((e) => e.kind === 'transition').map((e) => e.to);
    assert.deepEqual(states, ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY', 'PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY', 'PENDING', 'PREPARING', 'RUNNING', 'COMPLETED']);
  });

  test('a non-retryable failure → FAILED after 1 attempt, error kept, listed as a dead letter', async () => {
    const c = await h.createClient('standard');
    const id = await enqueue(c.key, { template: 'lab', input: { mode: 'fatal' } });
    const x = await h.waitTerminal(id, c.key);
    assert.equal(x.status, 'FAILED');
    assert.equal(x.attempts, 1);
    assert.deepEqual(x.error, { code: 'BAD_INPUT', message: 'lab cannot use this input', retryable: false });
    assert.deepEqual(w.lab.attempts.get(id), [1]);

    const dead = await h.call('GET', '/admin/requests?status=FAILED', { key: h.adminKey });
    assert.equal(dead.status, 200);
    const mine = dead.body.requests.find((r: { request_id: string }) => r.request_id === id);
    assert.ok(mine, 'in the dead-letter view');
    assert.equal(mine.error.code, 'BAD_INPUT');
    assert.ok(dead.body.requests.every((r: { status: string }) => r.status === 'FAILED'));
    const own = await h.call('GET', '/api/executions?status=FAILED', { key: c.key });
    assert.deepEqual(own.body.requests.map((r: { request_id: string }) => r.request_id), [id]);
    assertEnvelope(await h.call('GET', '/api/executions?status=BROKEN', { key: c.key }), 400, 'VALIDATION_ERROR');
  });

  test('retryable failures that never stop → FAILED after max_attempts with the last error', async () => {
    const c = await h.createClient('standard');
    const id = await enqueue(c.key, { template: 'lab', input: { mode: 'flaky', succeed_on: 99 } });
    const x = await h.waitTerminal(id, c.key);
    assert.equal(x.status, 'FAILED');
    assert.equal(x.attempts, 3);
    assert.deepEqual(x.error, { code: 'FLAKY', message: 'transient failure on attempt 3', retryable: true });
  });

  test('a worker that refuses Allot\'s token fails at once; an unreachable worker is retried then FAILED', async () => {
    const guarded = await serveHttp(defineWorker({ name: 'guarded', handler: () => ({ ok: true }) }), { token: 'worker-secret-1' });
    try {
      const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'guarded', transport: 'http', url: guarded.url, token: 'worker-secret-1' } });
      assert.equal(reg.status, 201, reg.text);
      assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'guarded', worker: 'guarded', retry: { base_delay_ms: 10, max_delay_ms: 20 } } })).status, 201);
      const c = await h.createClient('standard');
      const ok = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'guarded', input: {} } });
      assert.equal(ok.body.status, 'COMPLETED', JSON.stringify(ok.body.error));
      assert.deepEqual(ok.body.output, { ok: true });

      assert.equal((await h.call('PATCH', '/admin/workers/guarded', { key: h.adminKey, json: { token: 'worker-secret-2' } })).status, 200);
      const refused = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'guarded', input: {} } });
      assert.equal(refused.body.status, 'FAILED');
      assert.equal(refused.body.attempts, 1);
      assert.equal(refused.body.error.code, 'UNAUTHORIZED');
      assert.equal(refused.body.error.retryable, false);
    } finally {
      await guarded.close();
    }
    const c = await h.createClient('standard');
    const down = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'guarded', input: {} } });
    assert.equal(down.body.status, 'FAILED');
    assert.equal(down.body.attempts, 3);
    assert.equal(down.body.error.code, 'WORKER_UNAVAILABLE');
    assert.equal(down.body.error.retryable, true);
  });

  test('a worker slower than timeout_ms is aborted at the deadline, retried, then FAILED as a timeout', async () => {
    const c = await h.createClient('standard');
    const t0 = Date.now();
    const id = await enqueue(c.key, { template: 'lab-timeout', input: { mode: 'slow', ms: 3000 } });
    const x = await h.waitTerminal(id, c.key);
    const took = Date.now() - t0;
    assert.equal(x.status, 'FAILED');
    assert.equal(x.attempts, 2);
    assert.equal(x.error.code, 'REQUEST_TIMEOUT', JSON.stringify(x.error));
    assert.equal(x.error.retryable, true);
    assert.deepEqual(w.lab.attempts.get(id), [1, 2]);
    assert.ok(took < 2000, `each attempt was cut at its 150 ms deadline (took ${took} ms)`);
    assert.equal((await h.call('GET', '/api/queue/status', { key: c.key })).body.client.running, 0);
    const states = (await audit(id)).filter((e) => e.kind === 'transition').map((e) => e.to);
    assert.deepEqual(states, ['PENDING', 'PREPARING', 'RUNNING', 'WAITING_RETRY', 'PENDING', 'PREPARING', 'RUNNING', 'FAILED']);
  });

  test(
    'a timed-out request ends with the stable code REQUEST_TIMEOUT, also when the worker\'s clock is a little ahead',
    async () => {
      // Allot's clock 50 ms behind the worker's: ordinary skew between two machines.
      const skewed = await startHarness(baseConfig(w), { clock: { now: () => Date.now() - 50 } });
      try {
        const c = await skewed.createClient('standard');
        const r = await skewed.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'lab-timeout', input: { mode: 'slow', ms: 3000 } } });
        assert.equal(r.status, 202, r.text);
        const x = await skewed.waitTerminal(r.body.request_id, c.key);
        assert.equal(x.status, 'FAILED');
        assert.equal(x.error.code, 'REQUEST_TIMEOUT', JSON.stringify(x.error));
      } finally {
        await skewed.close();
      }
    },
  );
});

describe('progress', () => {
  test('a worker posts progress with its token; a wrong or missing token is 401; a stale run is refused', async () => {
    const c = await h.createClient('standard');
    const other = await enqueue(c.key, { template: 'lab', input: { mode: 'gate' } });
    const id = await enqueue(c.key, { template: 'lab', input: { mode: 'gate' } });
    await Promise.all([w.lab.reached(id), w.lab.reached(other)]);
    const post = await until('the progress post', () => h.progressPosts.find((p) => p.path === `/internal/progress/${id}`));
    const otherPost = await until('the other progress post', () => h.progressPosts.find((p) => p.path === `/internal/progress/${other}`));
    assert.equal(post.status, 200, 'the worker’s own post was accepted');
    assert.deepEqual(JSON.parse(post.body), { progress: 42, message: 'halfway' });
    assert.match(post.authorization ?? '', /^Bearer \d+\..+/);

    const x = (await h.call('GET', `/api/execution/${id}`, { key: c.key })).body;
    assert.equal(x.status, 'RUNNING');
    assert.equal(x.progress.percent, 42);
    assert.equal(x.progress.message, 'halfway');

    const send = (auth: string | undefined, json: unknown = { progress: 55, message: 'more' }) =>
      h.call('POST', `/internal/progress/${id}`, { json, ...(auth === undefined ? {} : { headers: { authorization: auth } }) });
    const token = (post.authorization as string).slice('Bearer '.length);

    const ok = await send(`Bearer ${token}`);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.body, { recorded: true });
    assert.equal((await h.call('GET', `/api/execution/${id}`, { key: c.key })).body.progress.percent, 55);

    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    assertEnvelope(await send(`Bearer ${tampered}`), 401, 'UNAUTHORIZED');
    assertEnvelope(await send(undefined), 401, 'UNAUTHORIZED');
    assertEnvelope(await send(`Bearer ${c.key}`), 401, 'UNAUTHORIZED');
    assertEnvelope(await send(`Bearer ${h.adminKey}`), 401, 'UNAUTHORIZED');
    // Another request's token does not work for this one.
    assertEnvelope(await send(otherPost.authorization), 401, 'UNAUTHORIZED');
    // Out of range is a validation error, naming the field.
    const bad = await send(`Bearer ${token}`, { progress: 150 });
    assertEnvelope(bad, 400, 'VALIDATION_ERROR');
    assert.match(bad.body.error.message, /progress/);
    assert.equal((await h.call('GET', `/api/execution/${id}`, { key: c.key })).body.progress.percent, 55, 'refused posts change nothing');

    w.lab.release(id);
    w.lab.release(other);
    assert.equal((await h.waitTerminal(id, c.key)).status, 'COMPLETED');
    await h.waitTerminal(other, c.key);
    const late = await send(`Bearer ${token}`);
    assertEnvelope(late, 409, 'LEASE_LOST');
  });

  test('the summarizer example reports progress that reaches the request', async () => {
    const c = await h.createClient('standard');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'summarize-slow', input: { text: ARTICLE } } });
    assert.equal(r.body.status, 'COMPLETED');
    const posts = h.progressPosts.filter((p) => p.path === `/internal/progress/${r.body.request_id}`);
    assert.ok(posts.length >= 1, 'the worker posted progress');
    assert.equal(posts[0]?.status, 200);
    assert.deepEqual(JSON.parse(posts[0]?.body ?? ''), { progress: 10, message: 'reading text' });
  });
});

test('no request caused an internal error; refused progress posts were envelopes too', () => {
  assert.deepEqual(h.internalErrors, []);
  const refused = h.progressPosts.filter((p) => p.status >= 400);
  for (const p of refused) {
    assertEnvelope({ status: p.status, headers: new Headers({ 'content-type': 'application/json' }), text: p.response, body: JSON.parse(p.response) });
  }
});
