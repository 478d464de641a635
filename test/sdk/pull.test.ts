/**
 * The worker SDK's runPull against a real Allot: the same handler as
 * serveHttp, work asked for in batches, results sent back in batches;
 * failures, usage and stopping. Runs on each backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorker, runPull, WorkerError } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

const TOKEN = 'pull-sdk-token-000001';
let h: Harness;

before(async () => {
  h = await startHarness({
    workers: { doubler: { transport: 'pull', token: TOKEN, max_concurrency: 100 } },
    templates: { double: { worker: 'doubler', timeout_ms: 10_000, max_attempts: 1 }, again: { worker: 'doubler', timeout_ms: 10_000, max_attempts: 3, retry: { base_delay_ms: 10, max_delay_ms: 20 } } },
    // Short leases: a job outlives its lease only through the SDK's heartbeats.
    scheduler: { pull_lease_ms: 1_000, lease_grace_ms: 200, reaper_interval_ms: 100 },
  });
});

after(async () => {
  await h?.close();
});

const worker = defineWorker<{ n: number }>({
  name: 'doubler',
  dedupe: false,
  handler: async (job, ctx) => {
    if (job.input.n < 0) throw new WorkerError('NEGATIVE', `cannot double ${job.input.n}`, { retryable: false });
    ctx.addUsage({ inputTokens: 1, outputTokens: 1 });
    await sleep(job.input.n % 7);
    return { doubled: job.input.n * 2 };
  },
});

test('200 requests through a pull worker: each done once with its own output; a thrown error fails only its request', async () => {
  const runner = runPull(worker, { url: h.relayUrl, token: TOKEN, concurrency: 25, waitMs: 1_000, heartbeatMs: 200 });
  try {
    const c = await h.createClient('enterprise');
    const n = 200;
    const batch = await h.call('POST', '/api/queue/enqueue/batch', { key: c.key, json: { requests: Array.from({ length: n }, (_, i) => ({ template: 'double', input: { n: i === 13 ? -1 : i } })) } });
    assert.equal(batch.status, 200, batch.text);
    const ids = (batch.body.results as Json[]).map((r) => r.request_id as string);
    const done = await Promise.all(ids.map((id) => h.waitTerminal(id, c.key, 20_000)));
    done.forEach((r, i) => {
      if (i === 13) {
        assert.equal(r.status, 'FAILED');
        assert.equal(r.error.code, 'NEGATIVE');
      } else {
        assert.equal(r.status, 'COMPLETED', JSON.stringify(r));
        assert.deepEqual(r.output, { doubled: i * 2 });
        assert.deepEqual(r.usage.tokens, { input: 1, output: 1 });
        assert.equal(r.attempts, 1);
      }
    });
  } finally {
    await runner.stop();
  }
  assert.equal(runner.running, 0);
});

test('stopped, it runs nothing more; work that arrives meanwhile goes to the next worker, not after its deadline', async () => {
  let calls = 0;
  const counting = defineWorker<{ n: number }>({ name: 'doubler', dedupe: false, handler: (job) => (calls++, { doubled: job.input.n * 2 }) });
  const runner = runPull(counting, { url: h.relayUrl, token: TOKEN, concurrency: 5, waitMs: 500, heartbeatMs: 200 });
  await sleep(100);
  await runner.stop();
  const c = await h.createClient('standard');
  // It may still be given to the poll the stopped worker had open (the server sees the hang-up a moment later):
  // then it goes to the next poll, or, if none comes within its pull lease, is taken back and tried again.
  const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'again', input: { n: 1 } } });
  await sleep(700);
  assert.equal(calls, 0, 'the stopped worker ran nothing');
  const t0 = performance.now();
  const next = runPull(counting, { url: h.relayUrl, token: TOKEN, concurrency: 5, waitMs: 500, heartbeatMs: 200 });
  try {
    const done = await h.waitTerminal(r.body.request_id, c.key, 10_000);
    assert.deepEqual(done.output, { doubled: 2 });
    assert.ok(done.attempts <= 2, `attempts ${done.attempts}`);
    assert.ok(performance.now() - t0 < 3_000, `at once, not after its 10 s deadline (${Math.round(performance.now() - t0)} ms)`);
  } finally {
    await next.stop();
  }
});

test('heartbeats keep a long job its own past the pull lease; a job cancelled meanwhile is stopped', async () => {
  const stopped: string[] = [];
  const slow = defineWorker<{ n: number; ms: number }>({
    name: 'doubler', dedupe: false,
    handler: async (job, ctx) => {
      await sleep(job.input.ms, undefined, { signal: ctx.signal }).catch(() => stopped.push(job.requestId));
      return { doubled: job.input.n * 2 };
    },
  });
  const runner = runPull(slow, { url: h.relayUrl, token: TOKEN, concurrency: 5, waitMs: 500, heartbeatMs: 200 });
  try {
    const c = await h.createClient('standard');
    const long = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'double', input: { n: 4, ms: 3_500 } } });
    const doomed = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'double', input: { n: 5, ms: 5_000 } } });
    await sleep(600);
    assert.equal((await h.call('POST', `/api/execution/${doomed.body.request_id}/cancel`, { key: c.key })).status, 200);
    const done = await h.waitTerminal(long.body.request_id, c.key, 10_000);
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.attempts, 1, 'never taken back: three leases of 1 s renewed');
    assert.deepEqual(done.output, { doubled: 8 });
    for (let i = 0; i < 20 && !stopped.includes(doomed.body.request_id); i++) await sleep(50);
    assert.deepEqual(stopped, [doomed.body.request_id], 'the cancelled job was stopped, the other ran to its end');
  } finally {
    await runner.stop();
  }
});
