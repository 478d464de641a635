/**
 * The worker SDK's runPull against a real Allot: the same handler as
 * serveHttp, work asked for in batches, results sent back in batches;
 * failures, usage and stopping. Runs on each backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorker, runPull, WorkerError } from '../../sdk/worker/index.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

const TOKEN = 'pull-sdk-token-000001';
let h: Harness;

before(async () => {
  h = await startHarness({
    workers: { doubler: { transport: 'pull', token: TOKEN, max_concurrency: 100 } },
    templates: { double: { worker: 'doubler', timeout_ms: 10_000, max_attempts: 1 } },
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
  const runner = runPull(worker, { url: h.relayUrl, token: TOKEN, concurrency: 25, waitMs: 1_000 });
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

test('stopped, it runs nothing more; work that arrives meanwhile goes to the next worker at once, not after its lease', async () => {
  let calls = 0;
  const counting = defineWorker<{ n: number }>({ name: 'doubler', dedupe: false, handler: (job) => (calls++, { doubled: job.input.n * 2 }) });
  const runner = runPull(counting, { url: h.relayUrl, token: TOKEN, concurrency: 5, waitMs: 500 });
  await sleep(100);
  await runner.stop();
  const c = await h.createClient('standard');
  const r = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'double', input: { n: 1 } } });
  await sleep(700);
  assert.equal(calls, 0, 'the stopped worker ran nothing');
  const t0 = performance.now();
  const next = runPull(counting, { url: h.relayUrl, token: TOKEN, concurrency: 5, waitMs: 500 });
  try {
    const done = await h.waitTerminal(r.body.request_id, c.key, 10_000);
    assert.deepEqual(done.output, { doubled: 2 });
    assert.equal(done.attempts, 1, 'on its first lease');
    assert.ok(performance.now() - t0 < 3_000, `at once, not after its 10 s lease (${Math.round(performance.now() - t0)} ms)`);
  } finally {
    await next.stop();
  }
});
