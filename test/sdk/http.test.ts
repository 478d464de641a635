import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerError, defineWorker, serveHttp } from '../../packages/worker/src/index.ts';
import type { HttpWorkerServer, StandardResponse } from '../../packages/worker/src/index.ts';

interface TestInput {
  mode: string;
  ms?: number;
}

function makeJob(input: TestInput, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    template: 'test',
    stage: 0,
    attempt: 1,
    input,
    parameters: { model: 'gpt-3.5', max_tokens: 16 },
    deadline_ms: Date.now() + 10_000,
    ...extra,
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: StandardResponse }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as StandardResponse };
}

async function waitFor(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const calls = new Map<string, number>();
const aborted = new Set<string>();
let flakyFailures = 0;

const worker = defineWorker<TestInput, unknown>({
  name: 'test-worker',
  version: '2.3.4',
  async handler(job, ctx) {
    calls.set(job.requestId, (calls.get(job.requestId) ?? 0) + 1);
    const { mode, ms = 0 } = job.input;
    switch (mode) {
      case 'echo':
        ctx.addUsage({ inputTokens: 5, outputTokens: 2, resources: { email: 3 } });
        ctx.addUsage({ resources: { email: 1 } });
        ctx.metadata.model = job.parameters.model;
        return { echo: job.template, stage: job.stage, attempt: job.attempt, max: job.parameters.max_tokens };
      case 'bigint':
        return { n: 1n };
      case 'crash':
        ctx.addUsage({ inputTokens: 7 });
        throw new Error('boom');
      case 'invalid':
        throw WorkerError.invalidInput('input.text is required');
      case 'custom':
        throw new WorkerError('QUOTA', 'upstream quota', { retryable: false });
      case 'slow':
        await sleep(ms, undefined, { signal: ctx.signal });
        return { slept: ms };
      case 'ignore-signal':
        await sleep(ms);
        return { slept: ms };
      case 'watch-abort':
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.add(job.requestId);
            resolve();
          });
        });
        return null;
      case 'flaky':
        if (flakyFailures++ === 0) throw new Error('first attempt fails');
        return { ok: true };
      case 'progress':
        ctx.progress(10, 'start');
        ctx.progress(60, 'middle');
        ctx.progress(100, 'done');
        return { ok: true };
      case 'progress-flood': {
        const started = Date.now();
        for (let i = 1; Date.now() - started < ms; i++) {
          ctx.progress(Math.min(99, i), `step ${i}`);
          await sleep(1);
        }
        ctx.progress(100, 'finished');
        return { ok: true };
      }
      default:
        throw new Error(`unknown mode ${mode}`);
    }
  },
});

describe('serveHttp', () => {
  let server: HttpWorkerServer;
  before(async () => {
    server = await serveHttp(worker);
  });
  after(() => server.close());

  test('listens on an ephemeral loopback port', () => {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
  });

  test('GET /health describes the worker', async () => {
    const res = await fetch(`${server.url}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      status: 'healthy',
      service: 'test-worker',
      version: '2.3.4',
      capabilities: { protocol: 'allot-direct/1', batch: true, batch_handler: false },
    });
  });

  test('a successful job returns the standard response', async () => {
    const j = makeJob({ mode: 'echo' }, { stage: 2, attempt: 3 });
    const { status, body } = await post(server.url, j, { 'x-allot-request-id': String(j.request_id) });
    assert.equal(status, 200);
    assert.equal(body.success, true);
    assert.ok(body.success);
    assert.deepEqual(body.output, { echo: 'test', stage: 2, attempt: 3, max: 16 });
    assert.deepEqual(body.usage.tokens, { input: 5, output: 2 });
    assert.deepEqual(body.usage.resources, { email: 4 });
    assert.equal(typeof body.usage.duration, 'number');
    assert.ok(body.usage.duration >= 0);
    assert.deepEqual(body.metadata, { model: 'gpt-3.5' });
  });

  test('a malformed job is a 400 naming the bad field', async () => {
    const missing = makeJob({ mode: 'echo' });
    delete missing.request_id;
    let res = await post(server.url, missing);
    assert.equal(res.status, 400);
    assert.equal(res.body.success, false);
    assert.ok(!res.body.success);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    assert.equal(res.body.error.retryable, false);
    assert.match(res.body.error.message, /request_id/);

    res = await post(server.url, makeJob({ mode: 'echo' }, { input: 'text' }));
    assert.equal(res.status, 400);
    assert.ok(!res.body.success);
    assert.match(res.body.error.message, /"input"/);

    res = await post(server.url, makeJob({ mode: 'echo' }, { parameters: { max_tokens: -1 } }));
    assert.equal(res.status, 400);
    assert.ok(!res.body.success);
    assert.match(res.body.error.message, /max_tokens/);

    res = await post(server.url, '{"request_id": ');
    assert.equal(res.status, 400);
    assert.ok(!res.body.success);
    assert.equal(res.body.error.code, 'VALIDATION_ERROR');
    assert.match(res.body.error.message, /JSON/);
  });

  test('unknown routes and methods are rejected', async () => {
    assert.equal((await fetch(`${server.url}/nope`, { method: 'POST', body: '{}' })).status, 404);
    const res = await fetch(server.url);
    assert.equal(res.status, 405);
    await res.arrayBuffer();
  });

  test('a handler crash is a retryable WORKER_ERROR that keeps the usage so far', async () => {
    const { status, body } = await post(server.url, makeJob({ mode: 'crash' }));
    assert.equal(status, 200);
    assert.ok(!body.success);
    assert.deepEqual(body.error, { code: 'WORKER_ERROR', message: 'boom', retryable: true });
    assert.deepEqual(body.usage.tokens, { input: 7, output: 0 });
  });

  test('an output that is not JSON-serializable is a WORKER_ERROR, not a dropped connection', async () => {
    const { status, body } = await post(server.url, makeJob({ mode: 'bigint' }));
    assert.equal(status, 200);
    assert.ok(!body.success);
    assert.equal(body.error.code, 'WORKER_ERROR');
    assert.match(body.error.message, /serializ/);
  });

  test('WorkerError.invalidInput is not retryable; custom WorkerErrors keep their code', async () => {
    let { status, body } = await post(server.url, makeJob({ mode: 'invalid' }));
    assert.equal(status, 200);
    assert.ok(!body.success);
    assert.deepEqual(body.error, { code: 'VALIDATION_ERROR', message: 'input.text is required', retryable: false });
    ({ body } = await post(server.url, makeJob({ mode: 'custom' })));
    assert.ok(!body.success);
    assert.deepEqual(body.error, { code: 'QUOTA', message: 'upstream quota', retryable: false });
  });

  test('a repeated job returns the stored response without running the handler again', async () => {
    const j = makeJob({ mode: 'echo' }, { attempt: 1 });
    const first = await post(server.url, j);
    const second = await post(server.url, { ...j, attempt: 2 });
    assert.equal(calls.get(String(j.request_id)), 1);
    assert.ok(first.body.success && second.body.success);
    assert.deepEqual(second.body.output, first.body.output);
    assert.deepEqual(second.body.usage, first.body.usage);
    assert.equal(second.body.metadata.deduplicated, true);
    assert.equal(first.body.metadata.deduplicated, undefined);

    // A different stage of the same request is different work.
    const third = await post(server.url, { ...j, stage: 1 });
    assert.ok(third.body.success);
    assert.equal(third.body.metadata.deduplicated, undefined);
    assert.equal(calls.get(String(j.request_id)), 2);
  });

  test('concurrent duplicates wait for the first run', async () => {
    const j = makeJob({ mode: 'slow', ms: 150 });
    const [a, b, c] = await Promise.all([post(server.url, j), post(server.url, j), post(server.url, j)]);
    assert.equal(calls.get(String(j.request_id)), 1);
    for (const r of [a, b, c]) {
      assert.ok(r.body.success);
      assert.deepEqual(r.body.output, { slept: 150 });
    }
    assert.equal([a, b, c].filter((r) => r.body.success && r.body.metadata.deduplicated === true).length, 2);
  });

  test('a failed run is not remembered: the retry runs the handler', async () => {
    const j = makeJob({ mode: 'flaky' });
    const first = await post(server.url, j);
    assert.ok(!first.body.success);
    const second = await post(server.url, { ...j, attempt: 2 });
    assert.ok(second.body.success);
    assert.equal(second.body.metadata.deduplicated, undefined);
    assert.equal(calls.get(String(j.request_id)), 2);
  });

  test('the deadline aborts the handler and answers DEADLINE_EXCEEDED', async () => {
    const started = Date.now();
    const { status, body } = await post(server.url, makeJob({ mode: 'slow', ms: 5_000 }, { deadline_ms: Date.now() + 150 }));
    assert.equal(status, 200);
    assert.ok(!body.success);
    assert.equal(body.error.code, 'DEADLINE_EXCEEDED');
    assert.equal(body.error.retryable, true);
    assert.ok(Date.now() - started < 2_000);
    assert.ok(body.usage.duration >= 100);
  });

  test('the SDK answers at the deadline even if the handler ignores its signal', async () => {
    const started = Date.now();
    const { body } = await post(server.url, makeJob({ mode: 'ignore-signal', ms: 600 }, { deadline_ms: Date.now() + 100 }));
    assert.ok(!body.success);
    assert.equal(body.error.code, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started < 500);
  });

  test('timeout_ms decides, not deadline_ms against this clock: a sender far behind or ahead of us', async () => {
    // Allot's clock 15 minutes behind ours: its deadline_ms is in our past, yet the job has 2 s left.
    const behind = makeJob({ mode: 'echo' }, { deadline_ms: Date.now() - 15 * 60_000, timeout_ms: 2_000 });
    const ok = await post(server.url, behind);
    assert.ok(ok.body.success, JSON.stringify(ok.body));
    // Allot's clock 15 minutes ahead: its deadline_ms is far in our future, yet the job is aborted after 150 ms.
    const started = Date.now();
    const ahead = await post(server.url, makeJob({ mode: 'slow', ms: 5_000 }, { deadline_ms: Date.now() + 15 * 60_000, timeout_ms: 150 }));
    assert.ok(!ahead.body.success);
    assert.equal(ahead.body.error.code, 'DEADLINE_EXCEEDED');
    const took = Date.now() - started;
    assert.ok(took >= 140 && took < 2_000, `aborted after ${took} ms`);
    // No time left at all: refused without running.
    const none = makeJob({ mode: 'echo' }, { deadline_ms: Date.now() + 60_000, timeout_ms: 0 });
    const refused = (await post(server.url, none)).body;
    assert.ok(!refused.success);
    assert.equal(refused.error.code, 'DEADLINE_EXCEEDED');
    assert.equal(calls.get(String(none.request_id)), undefined);
    // A bad one is a validation error naming the field.
    const bad = await post(server.url, makeJob({ mode: 'echo' }, { timeout_ms: -5 }));
    assert.equal(bad.status, 400);
    assert.ok(!bad.body.success);
    assert.match(bad.body.error.message, /timeout_ms/);
  });

  test('without timeout_ms (an older sender), a job already past its deadline_ms is refused without running', async () => {
    const j = makeJob({ mode: 'echo' }, { deadline_ms: Date.now() - 1 });
    const { body } = await post(server.url, j);
    assert.ok(!body.success);
    assert.equal(body.error.code, 'DEADLINE_EXCEEDED');
    assert.equal(calls.get(String(j.request_id)), undefined);
  });

  test('a client disconnect aborts the handler signal', async () => {
    const j = makeJob({ mode: 'watch-abort' });
    const controller = new AbortController();
    const pending = fetch(server.url, { method: 'POST', body: JSON.stringify(j), signal: controller.signal });
    await waitFor(() => calls.has(String(j.request_id)));
    controller.abort();
    await assert.rejects(pending);
    await waitFor(() => aborted.has(String(j.request_id)));
  });
});

describe('progress over HTTP', () => {
  let server: HttpWorkerServer;
  const received: { auth: string | undefined; body: { progress: number; message?: string }; path: string | undefined }[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), path: req.url });
      res.writeHead(204).end();
    });
  });
  let progressBase = '';

  before(async () => {
    server = await serveHttp(worker);
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    progressBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/internal/progress`;
  });
  after(async () => {
    await server.close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  test('progress posts reach the progress URL with the bearer token, latest value last', async () => {
    const j = makeJob({ mode: 'progress' });
    const url = `${progressBase}/${String(j.request_id)}`;
    const { body } = await post(server.url, { ...j, progress: { url, token: 'tok-123' } });
    assert.ok(body.success);
    const mine = (): typeof received => received.filter((r) => r.path === `/internal/progress/${String(j.request_id)}`);
    await waitFor(() => mine().some((r) => r.body.progress === 100));
    const got = mine();
    for (const r of got) assert.equal(r.auth, 'Bearer tok-123');
    assert.deepEqual(got[0]?.body, { progress: 10, message: 'start' });
    assert.deepEqual(got.at(-1)?.body, { progress: 100, message: 'done' });
    assert.ok(got.length <= 3);
  });

  test('a flood of progress reports is coalesced to about 10 per second', async () => {
    const j = makeJob({ mode: 'progress-flood', ms: 500 });
    const path = `/internal/progress/${String(j.request_id)}`;
    const { body } = await post(server.url, { ...j, progress: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}${path}`, token: 't' } });
    assert.ok(body.success);
    await waitFor(() => received.some((r) => r.path === path && r.body.progress === 100));
    const got = received.filter((r) => r.path === path);
    assert.ok(got.length >= 3, `only ${got.length} progress posts`);
    assert.ok(got.length <= 9, `${got.length} progress posts in ~0.5 s`);
    assert.deepEqual(got.at(-1)?.body, { progress: 100, message: 'finished' });
  });

  test('an unreachable progress URL does not fail the job', async () => {
    const { body } = await post(server.url, { ...makeJob({ mode: 'progress' }), progress: { url: 'http://127.0.0.1:9/x', token: 't' } });
    assert.ok(body.success);
  });

  test('no progress target means no posts and no failure', async () => {
    const countBefore = received.length;
    const { body } = await post(server.url, makeJob({ mode: 'progress' }));
    assert.ok(body.success);
    await sleep(50);
    assert.equal(received.length, countBefore);
  });
});

describe('serveHttp with a worker token', () => {
  let server: HttpWorkerServer;
  before(async () => {
    server = await serveHttp(worker, { token: 's3cret', path: '/jobs' });
  });
  after(() => server.close());

  test('jobs need the bearer token; health does not', async () => {
    assert.equal(server.url, `http://127.0.0.1:${server.port}/jobs`);
    const denied = await post(server.url, makeJob({ mode: 'echo' }));
    assert.equal(denied.status, 401);
    assert.ok(!denied.body.success);
    assert.equal(denied.body.error.code, 'UNAUTHORIZED');
    const wrong = await post(server.url, makeJob({ mode: 'echo' }), { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    const ok = await post(server.url, makeJob({ mode: 'echo' }), { authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 200);
    assert.ok(ok.body.success);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/health`)).status, 200);
  });
});
