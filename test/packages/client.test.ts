/**
 * @allot/client against a real Allot on loopback (test/packages/allot.ts),
 * from its TypeScript sources: every method, idempotency, progress over SSE
 * from a worker's reports (and a stream that breaks off and is reopened),
 * cancel, and the typed errors with their stable codes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AllotClient, AllotError, AllotNetworkError, AllotTimeoutError, ERROR_CODES,
  type Accepted, type CostEstimate, type CurrentUsage, type Execution, type ExecutionEvent, type QueuePosition, type RequestCost, type ResourceEstimate, type Usage,
} from '../../packages/client/src/index.ts';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { parseRetryAfter } from '../../packages/client/src/errors.ts';
import { ERROR_CATALOGUE } from '../../src/core/errors.ts';
import { ARTICLE, baseConfig, startWorkers, type Workers } from '../http/fixtures.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';
import { startLiveAllot, type LiveAllot } from './allot.ts';

let allot: LiveAllot;
let workers: Workers;
let stepper: HttpWorkerServer;
let me: { id: string; key: string };
let client: AllotClient;

before(async () => {
  workers = await startWorkers();
  stepper = await serveHttp(defineWorker<{ n: number }>({
    name: 'stepper', dedupe: false,
    handler: async (job, ctx) => {
      for (const p of [25, 50, 75]) {
        ctx.progress(p, `step ${p}`);
        await sleep(150, undefined, { signal: ctx.signal }); // Longer than the SDK's progress coalescing, so each step is posted.
      }
      return { n: job.input.n };
    },
  }));
  const config = baseConfig(workers);
  allot = await startLiveAllot({
    ...config,
    workers: { ...(config.workers as object), stepper: { transport: 'http', url: stepper.url } },
    templates: { ...(config.templates as object), steps: { worker: 'stepper', timeout_ms: 10_000 } },
  });
  me = await allot.createClient();
  client = new AllotClient({ baseUrl: allot.url, apiKey: me.key, clientId: me.id, timeoutMs: 10_000 });
});

after(async () => {
  await allot?.stop();
  await stepper?.close();
  await workers?.close();
});

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return assert.fail('expected a rejection');
}

async function apiError(p: Promise<unknown>, code: string, status: number): Promise<AllotError> {
  const err = await rejection(p);
  assert.ok(err instanceof AllotError, `not an AllotError: ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.equal(err.status, status);
  assert.equal(err.name, 'AllotError');
  assert.ok(err.message.length > 0);
  return err;
}

/** `p`, or a failure after `ms`: a stream that is not ended fails the test quickly instead of hanging it. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('submitting', () => {
  test('submit queues a request; the same Idempotency-Key returns the same request, a different body under it is IDEMPOTENCY_MISMATCH', async () => {
    const key = `idem-${randomUUID()}`;
    const body = { template: 'summarize', input: { text: ARTICLE } };
    const a = await client.submit(body, { idempotencyKey: key });
    assert.equal(a.success, true);
    assert.equal(a.created, true);
    assert.match(a.request_id, /\S/);
    assert.equal(a.template, 'summarize');
    assert.equal(a.status_url, `/api/execution/${a.request_id}`);
    assert.ok(a.estimate.max_cost_usd > 0);
    const b = await client.submit(body, { idempotencyKey: key });
    assert.equal(b.request_id, a.request_id);
    assert.equal(b.created, false);
    const c = await client.submit(body);
    assert.notEqual(c.request_id, a.request_id, 'no key: a new request');
    await apiError(client.submit({ ...body, input: { text: 'something else' } }, { idempotencyKey: key }), 'IDEMPOTENCY_MISMATCH', 422);
    const done = await client.wait(a.request_id);
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.idempotency_key, key);
  });

  test('submitBatch answers one result per item, a refused item with its own error', async () => {
    const key = `batch-${randomUUID()}`;
    const results = await client.submitBatch([
      { template: 'lab', input: { mode: 'echo' }, idempotency_key: key },
      { template: 'no-such-template', input: {} },
      { template: 'lab', input: { mode: 'echo' }, idempotency_key: key },
    ]);
    assert.equal(results.length, 3);
    const [first, bad, again] = results;
    assert.ok(first?.request_id && !first.error, JSON.stringify(first));
    assert.ok(bad?.error, JSON.stringify(bad));
    assert.ok(bad.error.code in ERROR_CODES, bad.error.code);
    assert.match(bad.error.message, /no-such-template/);
    // One request under the key; which of the two items made it is not promised (PostgreSQL takes items concurrently).
    assert.equal(again?.request_id, first.request_id);
    assert.deepEqual([first.created, again?.created].toSorted(), [false, true]);
  });

  test('executeAndWait answers the finished request, and follows one still running after wait_ms to its end', async () => {
    const quick = await client.executeAndWait<{ summary: string }>({ template: 'summarize', input: { text: ARTICLE } });
    assert.equal(quick.status, 'COMPLETED');
    assert.equal(typeof quick.output?.summary, 'string');
    assert.ok(quick.cost_usd > 0);
    // wait_ms 0: Allot answers 202 at once; the client then follows the event stream.
    const slow = await client.executeAndWait({ template: 'steps', input: { n: 5 }, wait_ms: 0 });
    assert.equal(slow.status, 'COMPLETED');
    assert.deepEqual(slow.output, { n: 5 });
    assert.ok(slow.attempts >= 1);
    const failed = await client.executeAndWait({ template: 'lab', input: { mode: 'fatal' } });
    assert.equal(failed.status, 'FAILED', 'a failed request is answered, not thrown');
    assert.equal(failed.error?.code, 'BAD_INPUT');
  });
});

describe('following and reading', () => {
  test('events streams status, each progress report of the worker in order, and the end with the output', async () => {
    const q = await client.submit({ template: 'steps', input: { n: 7 } });
    const events = await collect(client.events<{ n: number }>(q.request_id));
    assert.equal(events[0]?.event, 'status');
    const progress = events.filter((e): e is Extract<ExecutionEvent, { event: 'progress' }> => e.event === 'progress').map((e) => e.data);
    assert.deepEqual(progress.map((p) => p.percent), [25, 50, 75], JSON.stringify(events.map((e) => e.event)));
    assert.deepEqual(progress.map((p) => p.message), ['step 25', 'step 50', 'step 75']);
    const end = events.at(-1);
    assert.equal(end?.event, 'end');
    assert.ok(end.event === 'end');
    assert.equal(end.data.status, 'COMPLETED');
    assert.deepEqual(end.data.output, { n: 7 });
    assert.equal(events.filter((e) => e.event === 'end').length, 1);
  });

  test('a stream that breaks off is reopened and still ends with the result', async () => {
    const port = Number(new URL(allot.url).port);
    const proxy = await tcpProxy('127.0.0.1', port);
    try {
      const via = new AllotClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: me.key, timeoutMs: 5_000 });
      const q = await client.submit({ template: 'steps', input: { n: 9 } });
      const seen: string[] = [];
      let cut = false;
      for await (const e of via.events<{ n: number }>(q.request_id, { reconnectDelayMs: 50 })) {
        seen.push(e.event);
        if (e.event === 'progress' && !cut) {
          cut = true;
          // Every connection through the proxy is closed, and it listens again at once: the client must reconnect.
          await proxy.down();
          await proxy.up();
        }
        if (e.event === 'end') {
          assert.equal(e.data.status, 'COMPLETED');
          assert.deepEqual(e.data.output, { n: 9 });
        }
      }
      assert.ok(cut, `no progress seen: ${seen.join(',')}`);
      assert.equal(seen.at(-1), 'end');
      assert.equal(seen.filter((e) => e === 'status').length >= 2, true, `reopened streams start with a status: ${seen.join(',')}`);
    } finally {
      await proxy.close();
    }
  });

  test('a stream that goes silent is given up after idleTimeoutMs; the caller’s signal ends a stream with its reason', async () => {
    const port = Number(new URL(allot.url).port);
    const proxy = await tcpProxy('127.0.0.1', port);
    const q = await client.submit({ template: 'lab', input: { mode: 'gate' } });
    try {
      const via = new AllotClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, apiKey: me.key, timeoutMs: 5_000 });
      await workers.lab.reached(q.request_id);
      const seen: string[] = [];
      const started = performance.now();
      const err = await rejection(within(5_000, (async () => {
        for await (const e of via.events(q.request_id, { idleTimeoutMs: 300, maxReconnects: 0 })) {
          seen.push(e.event);
          // The connection stays open and nothing more comes through: a connection that died without closing.
          proxy.blackhole();
        }
      })()));
      assert.ok(err instanceof AllotTimeoutError, String(err));
      assert.equal(err.timeoutMs, 300);
      // What came in the same read as the status (the worker's progress) may follow it; nothing after the blackhole can.
      assert.equal(seen[0], 'status');
      assert.ok(seen.every((e) => e !== 'end'), seen.join(','));
      assert.ok(performance.now() - started < 3_000);

      const ac = new AbortController();
      const reason = new Error('no longer interested');
      const got: string[] = [];
      const aborted = await rejection(within(5_000, (async () => {
        for await (const e of client.events(q.request_id, { signal: ac.signal })) {
          got.push(e.event);
          setTimeout(() => ac.abort(reason), 50);
        }
      })()));
      assert.equal(aborted, reason);
      // The worker's progress post may land after the stream opened: status first, then perhaps that progress, never an end.
      assert.equal(got[0], 'status');
      assert.ok(got.every((e) => e !== 'end'), got.join(','));
    } finally {
      await proxy.close();
      workers.lab.release(q.request_id);
    }
  });

  test('a loop left after its first event; the events of another client’s request are NOT_FOUND', async () => {
    const q = await client.submit({ template: 'steps', input: { n: 1 } });
    for await (const e of client.events(q.request_id)) {
      assert.equal(e.event, 'status');
      break;
    }
    const other = await allot.createClient();
    const stranger = new AllotClient({ baseUrl: allot.url, apiKey: other.key });
    await apiError(collect(stranger.events(q.request_id)), 'NOT_FOUND', 404);
    assert.equal((await client.wait(q.request_id)).status, 'COMPLETED');
  });

  test('status, list (filters and paging) and queuePosition', async () => {
    const own = await allot.createClient();
    const c = new AllotClient({ baseUrl: allot.url, apiKey: own.key });
    const done = await c.executeAndWait({ template: 'lab', input: { mode: 'echo' } });
    const s = await c.status(done.request_id);
    assert.equal(s.request_id, done.request_id);
    assert.equal(s.client_id, own.id);
    assert.equal(s.status, 'COMPLETED');
    assert.deepEqual(s.output, { echo: { mode: 'echo' } });

    await allot.admin('POST', '/admin/scheduler/stop', undefined, 200);
    try {
      const a = await c.submit({ template: 'lab', input: { mode: 'echo' } });
      const b = await c.submit({ template: 'lab', input: { mode: 'echo' }, urgency: 'low' });
      const pa = await c.queuePosition(a.request_id);
      assert.equal(pa.status, 'PENDING');
      assert.equal(pa.position, 1);
      assert.equal(pa.ahead, 0);
      assert.ok(pa.queue_depth >= 2);
      assert.equal((await c.queuePosition(b.request_id)).position, 2);

      const pending = await c.list({ status: 'PENDING' });
      assert.deepEqual(pending.requests.map((r) => r.request_id).toSorted(), [a.request_id, b.request_id].toSorted());
      const page1 = await c.list({ limit: 2 });
      assert.equal(page1.requests.length, 2);
      assert.equal(page1.next_before, page1.requests[1]?.request_id);
      const page2 = await c.list({ limit: 2, before: page1.next_before ?? undefined });
      assert.deepEqual(page2.requests.map((r) => r.request_id), [done.request_id]);
      assert.equal((await c.list({ status: ['COMPLETED', 'FAILED'], template: 'lab' })).requests.length, 1);
      assert.equal((await c.list({ template: 'summarize' })).requests.length, 0);
      await apiError(c.list({ status: 'NOPE' as 'PENDING' }), 'VALIDATION_ERROR', 400);
    } finally {
      await allot.admin('POST', '/admin/scheduler/start', undefined, 200);
    }
  });

  test('cost, usage, currentUsage and both estimates', async () => {
    const own = await allot.createClient();
    const c = new AllotClient({ baseUrl: allot.url, apiKey: own.key, clientId: own.id });
    const ec = await c.estimateCost({ template: 'summarize', input: { text: ARTICLE } });
    assert.equal(ec.template, 'summarize');
    assert.equal(ec.model, 'mini');
    assert.ok(ec.input_tokens > 0);
    assert.ok(ec.max_cost_usd > 0);
    assert.equal(ec.budget?.fits, true);
    const er = await c.estimateResources({ template: 'summarize', input: { text: ARTICLE }, max_tokens: 50 });
    assert.equal(er.max_tokens, 50);
    assert.equal(er.available, true);
    assert.equal(er.resources['llm.mini']?.fits_now, true);
    assert.equal(er.resources['llm.mini']?.requested, er.estimate.resources['llm.mini']);

    const done = await c.executeAndWait({ template: 'summarize', input: { text: ARTICLE } });
    assert.equal(done.status, 'COMPLETED');
    const cost = await c.cost(done.request_id);
    assert.equal(cost.request_id, done.request_id);
    assert.equal(cost.final, true);
    assert.equal(cost.cost_usd, done.cost_usd);
    assert.ok(cost.cost_usd > 0 && cost.cost_usd <= ec.max_cost_usd);
    assert.ok((cost.usage?.tokens.input ?? 0) > 0);

    const usage = await c.usage();
    assert.equal(usage.client_id, own.id);
    const row = usage.by_template.find((u) => u.template === 'summarize');
    assert.equal(row?.completed, 1);
    assert.equal(row?.cost_usd, cost.cost_usd);
    assert.equal(usage.total_cost_usd, cost.cost_usd);
    const period = usage.periods[0]?.period;
    assert.match(period ?? '', /^\d{4}-\d{2}$/);
    assert.equal((await c.usage(own.id, { period: '1999-01' })).by_template.length, 0);
    const current = await c.currentUsage();
    assert.equal(current.period, period);
    assert.equal(current.spent_usd, cost.cost_usd);
    assert.equal(current.budget_usd, 500);
    assert.ok(current.remaining_usd !== null && Math.abs(current.remaining_usd - (500 - cost.cost_usd)) < 1e-6);
    await apiError(c.usage(me.id), 'FORBIDDEN', 403);
  });

  test('cancel ends a running request and its stream with CANCELLED; a second cancel is CONFLICT', async () => {
    const q = await client.submit({ template: 'lab', input: { mode: 'gate' } });
    const following = collect(client.events(q.request_id));
    await workers.lab.reached(q.request_id);
    const cancelled = await client.cancel(q.request_id);
    assert.equal(cancelled.status, 'CANCELLED');
    const events = await following;
    assert.ok(events.some((e) => e.event === 'progress' && e.data.percent === 42), JSON.stringify(events));
    const end = events.at(-1);
    assert.ok(end?.event === 'end' && end.data.status === 'CANCELLED', JSON.stringify(end));
    const err = await apiError(client.cancel(q.request_id), 'CONFLICT', 409);
    assert.equal(err.details?.status, 'CANCELLED');
    assert.equal(err.retryable, false);
  });
});

/** Every field of T, once: the compiler rejects a missing or an unknown one. */
const fieldsOf = <T>(fields: Record<keyof T, true>): string[] => Object.keys(fields).toSorted();

test('the response types name exactly the fields Allot answers with', async () => {
  const own = await allot.createClient();
  const c = new AllotClient({ baseUrl: allot.url, apiKey: own.key, clientId: own.id });
  const keys = (o: object): string[] => Object.keys(o).toSorted();
  const accepted = await c.submit({ template: 'summarize', input: { text: ARTICLE } });
  assert.deepEqual(keys(accepted), fieldsOf<Accepted>({ success: true, request_id: true, status: true, template: true, estimate: true, status_url: true, created: true }));
  const done = await c.wait(accepted.request_id);
  assert.deepEqual(keys(done), fieldsOf<Execution>({
    request_id: true, client_id: true, template: true, status: true, system: true, external_id: true, shadow_of: true, urgency: true, level: true, priority: true,
    queue_position: true, attempts: true, max_attempts: true, model: true, model_requested: true, downgrade_reason: true, max_tokens: true, progress: true,
    output: true, error: true, usage: true, stages: true, cost_usd: true, overrun_usd: true, overuse: true, recoveries: true, estimate: true, hold_usd: true,
    idempotency_key: true, cache: true, created_at: true, started_at: true, completed_at: true, next_attempt_at: true, deadline_at: true,
  }));
  assert.deepEqual(keys(await c.queuePosition(done.request_id)), fieldsOf<QueuePosition>({
    request_id: true, status: true, position: true, ahead: true, queue_depth: true, level: true, priority: true, next_attempt_at: true,
  }));
  assert.deepEqual(keys(await c.cost(done.request_id)), fieldsOf<RequestCost>({
    request_id: true, status: true, template: true, model: true, cost_usd: true, usage: true, estimate: true, final: true,
  }));
  assert.deepEqual(keys(await c.usage()), fieldsOf<Usage>({ client_id: true, tier: true, period: true, periods: true, by_template: true, total_cost_usd: true }));
  assert.deepEqual(keys(await c.currentUsage()), fieldsOf<CurrentUsage>({
    client_id: true, tier: true, period: true, budget_usd: true, spent_usd: true, held_usd: true, remaining_usd: true, utilization: true, running: true, max_concurrent: true,
  }));
  const estimate = { template: 'summarize', input: { text: ARTICLE } };
  assert.deepEqual(keys(await c.estimateCost(estimate)), fieldsOf<CostEstimate>({
    template: true, model: true, max_tokens: true, input_tokens: true, input_overhead_tokens: true, max_cost_usd: true, input_cost_usd: true, budget: true,
  }));
  assert.deepEqual(keys(await c.estimateResources(estimate)), fieldsOf<ResourceEstimate>({ template: true, max_tokens: true, estimate: true, available: true, resources: true }));
  assert.deepEqual(keys(done.estimate), fieldsOf<Execution['estimate']>({ input_tokens: true, input_overhead_tokens: true, max_output_tokens: true, resources: true, max_cost_usd: true }));
});

test('calls go through the fetch given, under the base URL’s path, with the key and the Idempotency-Key', async () => {
  const seen: { url: string; authorization: string | null; idempotency: string | null }[] = [];
  // A base URL with a path, as behind a reverse proxy that mounts Allot under /allot: this fetch plays the proxy.
  const viaPrefix: typeof fetch = (input, init) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    seen.push({ url, authorization: headers.get('authorization'), idempotency: headers.get('idempotency-key') });
    return fetch(url.replace('/allot/', '/'), init);
  };
  const c = new AllotClient({ baseUrl: `${allot.url}/allot/`, apiKey: me.key, fetch: viaPrefix });
  const key = `via-${randomUUID()}`;
  const a = await c.submit({ template: 'lab', input: { mode: 'echo' } }, { idempotencyKey: key });
  await c.list({ status: ['PENDING', 'RUNNING'], limit: 5 });
  assert.deepEqual(seen.map((x) => x.url), [`${allot.url}/allot/api/queue/enqueue`, `${allot.url}/allot/api/executions?status=PENDING%2CRUNNING&limit=5`]);
  assert.deepEqual(seen.map((x) => x.authorization), [`Bearer ${me.key}`, `Bearer ${me.key}`]);
  assert.deepEqual(seen.map((x) => x.idempotency), [key, null]);
  assert.equal((await client.wait(a.request_id)).status, 'COMPLETED');
});

describe('errors', () => {
  test('NOT_FOUND, UNAUTHORIZED and VALIDATION_ERROR arrive as AllotError with their code, status, details and request id', async () => {
    const nf = await apiError(client.status('no-such-request'), 'NOT_FOUND', 404);
    assert.match(nf.requestId ?? '', /\S/);
    await apiError(client.cost('no-such-request'), 'NOT_FOUND', 404);
    const wrongKey = new AllotClient({ baseUrl: allot.url, apiKey: 'not-a-key' });
    await apiError(wrongKey.submit({ template: 'lab', input: {} }), 'UNAUTHORIZED', 401);
    const bad = await apiError(client.submit({ template: 'lab', input: 'text' as unknown as Record<string, unknown> }), 'VALIDATION_ERROR', 400);
    assert.match(bad.message, /input/);
    assert.ok(Array.isArray(bad.details?.fields), JSON.stringify(bad.details));
    await apiError(client.estimateCost({ template: 'no-such-template', input: {} }), 'VALIDATION_ERROR', 400);
  });

  test('a full queue is QUEUE_BACKUP with retryAfterMs from Retry-After', async () => {
    const small = await startLiveAllot({ ...baseConfig(workers), scheduler: { max_queue_depth: 1 } });
    try {
      const own = await small.createClient();
      await small.admin('POST', '/admin/scheduler/stop', undefined, 200);
      const c = new AllotClient({ baseUrl: small.url, apiKey: own.key });
      await c.submit({ template: 'lab', input: { mode: 'echo' } });
      const err = await apiError(c.submit({ template: 'lab', input: { mode: 'echo' } }), 'QUEUE_BACKUP', 503);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 5_000);
    } finally {
      await small.stop();
    }
  });

  test('no server is an AllotNetworkError, no answer in time an AllotTimeoutError; neither is an AllotError', async () => {
    // A port nothing listens on: bind one, then close it.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await rejection(new AllotClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'k' }).status('x'));
    assert.ok(refused instanceof AllotNetworkError && !(refused instanceof AllotTimeoutError), String(refused));
    assert.ok(!(refused instanceof AllotError));
    assert.equal(refused.status, undefined);

    // Accepts requests and never answers.
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const started = performance.now();
      const slow = await rejection(new AllotClient({ baseUrl: url, apiKey: 'k', timeoutMs: 200 }).status('x'));
      assert.ok(slow instanceof AllotTimeoutError, String(slow));
      assert.equal(slow.timeoutMs, 200);
      assert.ok(performance.now() - started < 5_000);
      // The caller's own signal wins, with its reason.
      const reason = new Error('given up');
      const ac = new AbortController();
      setTimeout(() => ac.abort(reason), 50);
      assert.equal(await rejection(new AllotClient({ baseUrl: url, apiKey: 'k', timeoutMs: 5_000 }).status('x', { signal: ac.signal })), reason);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('an answer that is not Allot’s JSON is an AllotNetworkError with its status', async () => {
    const proxyPage: Server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad gateway</html>');
    });
    await new Promise<void>((r) => proxyPage.listen(0, '127.0.0.1', () => r()));
    try {
      const err = await rejection(new AllotClient({ baseUrl: `http://127.0.0.1:${(proxyPage.address() as AddressInfo).port}`, apiKey: 'k' }).status('x'));
      assert.ok(err instanceof AllotNetworkError, String(err));
      assert.equal(err.status, 502);
      assert.match(err.message, /Bad gateway/);
    } finally {
      await new Promise<void>((r) => proxyPage.close(() => r()));
    }
  });

  test('Retry-After is read as seconds or as an HTTP date; anything else is no retryAfterMs', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a date in the past: now');
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  test('the client’s catalogue is the server’s: every code, with its status and retryability', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(ERROR_CODES).map(([k, v]) => [k, { status: v.status, retryable: v.retryable }])),
      Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([k, v]) => [k, { status: v.status, retryable: v.retryable }])),
    );
  });
});
