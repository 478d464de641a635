/**
 * Batch calls (`{ "batch": [job, …] }`) and the time each job has left: the
 * batch handler is aborted `timeout_ms` after the call arrived, whatever
 * `deadline_ms` says against this machine's clock (a sender whose clock is
 * 15 minutes behind or ahead of ours), and a job that arrives with no time
 * left is answered at once without holding the others up. Real HTTP on
 * 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorker, serveHttp, type HttpWorkerServer, type Job } from '../../packages/worker/src/index.ts';

const SKEW = 15 * 60_000;

interface Input {
  /** How long the handler works before answering (it stops when aborted). */
  ms?: number;
}

interface Answer {
  success: boolean;
  output?: { ms: number };
  error?: { code: string; message: string; retryable: boolean };
}

const job = (input: Input, extra: Record<string, unknown>): Record<string, unknown> => ({
  request_id: randomUUID(), template: 't', stage: 0, attempt: 1, input, parameters: {}, ...extra,
});

async function postBatch(url: string, jobs: Record<string, unknown>[]): Promise<{ results: Answer[]; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch: jobs }) });
  const body = (await r.json()) as { success: boolean; results: Answer[] };
  assert.equal(body.success, true);
  return { results: body.results, ms: performance.now() - t0 };
}

describe('batch calls and the time left', () => {
  /** The jobs each batch handler call was given. */
  const calls: Job<Input>[][] = [];
  let withHandler: HttpWorkerServer;
  let perJob: HttpWorkerServer;

  before(async () => {
    const work = async (ms: number, signal: AbortSignal): Promise<void> => {
      if (ms > 0) await sleep(ms, undefined, { signal });
    };
    withHandler = await serveHttp(defineWorker<Input, { ms: number }>({
      name: 'batcher',
      dedupe: false,
      handler: () => assert.fail('batch calls go to the batch handler'),
      async batchHandler(jobs, ctx) {
        calls.push(jobs);
        await work(Math.max(0, ...jobs.map((j) => j.input.ms ?? 0)), ctx.signal);
        return jobs.map((j) => ({ ms: j.input.ms ?? 0 }));
      },
    }));
    perJob = await serveHttp(defineWorker<Input, { ms: number }>({
      name: 'one-by-one',
      dedupe: false,
      async handler(j, ctx) {
        await work(j.input.ms ?? 0, ctx.signal);
        return { ms: j.input.ms ?? 0 };
      },
    }));
  });

  after(async () => {
    await withHandler?.close();
    await perJob?.close();
  });

  test('a sender 15 minutes behind us: deadline_ms in our past, timeout_ms left, the batch runs', async () => {
    calls.length = 0;
    const past = { deadline_ms: Date.now() - SKEW, timeout_ms: 5_000 };
    const { results } = await postBatch(withHandler.url, [job({}, past), job({}, past)]);
    assert.deepEqual(results.map((r) => r.success), [true, true], JSON.stringify(results));
    assert.equal(calls.length, 1);
    // The handler's view is on this machine's clock: about 5 s from now.
    for (const j of calls[0] ?? []) {
      assert.equal(j.timeoutMs, 5_000);
      assert.ok(Math.abs((j.deadlineMs as number) - (Date.now() + 5_000)) < 1_000, `deadlineMs ${(j.deadlineMs as number) - Date.now()} ms from now`);
    }
  });

  test('a sender 15 minutes ahead of us: deadline_ms far off, the batch is aborted when the least timeout_ms is up', async () => {
    const future = Date.now() + SKEW;
    const { results, ms } = await postBatch(withHandler.url, [
      job({ ms: 10_000 }, { deadline_ms: future, timeout_ms: 300 }),
      job({ ms: 10_000 }, { deadline_ms: future, timeout_ms: 5_000 }),
    ]);
    assert.deepEqual(results.map((r) => r.error?.code), ['DEADLINE_EXCEEDED', 'DEADLINE_EXCEEDED']);
    assert.ok(results.every((r) => r.error?.retryable === true));
    assert.ok(ms >= 280 && ms < 2_000, `aborted after ${ms.toFixed(0)} ms`);
  });

  test('without timeout_ms (an older sender), deadline_ms against this clock still bounds it', async () => {
    const { results, ms } = await postBatch(withHandler.url, [job({ ms: 10_000 }, { deadline_ms: Date.now() + 300 })]);
    assert.equal(results[0]?.error?.code, 'DEADLINE_EXCEEDED');
    assert.ok(ms >= 250 && ms < 2_000, `aborted after ${ms.toFixed(0)} ms`);
  });

  test('a job with no time left is answered at once; the others run in their own time', async () => {
    calls.length = 0;
    const past = Date.now() - SKEW;
    const jobs = [job({ ms: 200 }, { deadline_ms: past, timeout_ms: 0 }), job({ ms: 200 }, { deadline_ms: past, timeout_ms: 5_000 })];
    const { results } = await postBatch(withHandler.url, jobs);
    assert.equal(results[0]?.success, false);
    assert.equal(results[0]?.error?.code, 'DEADLINE_EXCEEDED');
    assert.equal(results[0]?.error?.retryable, true);
    assert.equal(results[1]?.success, true, JSON.stringify(results[1]));
    assert.deepEqual(results[1]?.output, { ms: 200 });
    assert.deepEqual(calls.map((c) => c.map((j) => j.requestId)), [[jobs[1]?.request_id]], 'the batch handler got only the job with time left');
    // Without a batch handler, each job through the ordinary handler: the same answers.
    const one = await postBatch(perJob.url, jobs);
    assert.deepEqual(one.results.map((r) => r.error?.code ?? 'ok'), ['DEADLINE_EXCEEDED', 'ok']);
  });

  test('a bad timeout_ms fails its own job with VALIDATION_ERROR naming the field', async () => {
    calls.length = 0;
    const { results } = await postBatch(withHandler.url, [job({}, { timeout_ms: -1 }), job({}, { timeout_ms: 'soon' }), job({}, { timeout_ms: 1_000 })]);
    for (const r of results.slice(0, 2)) {
      assert.equal(r.error?.code, 'VALIDATION_ERROR');
      assert.equal(r.error?.retryable, false);
      assert.match(r.error?.message ?? '', /timeout_ms/);
    }
    assert.equal(results[2]?.success, true);
    assert.equal(calls[0]?.length, 1);
    // Only bad or expired jobs: the batch handler is not called with none.
    calls.length = 0;
    const none = await postBatch(withHandler.url, [job({}, { timeout_ms: -1 }), job({}, { timeout_ms: 0 })]);
    assert.deepEqual(none.results.map((r) => r.error?.code), ['VALIDATION_ERROR', 'DEADLINE_EXCEEDED']);
    assert.equal(calls.length, 0);
  });
});
