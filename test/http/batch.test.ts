/**
 * Request batching (SPEC section 5): requests of a batchable template with
 * the same batch key arriving within the window go to the worker as one call;
 * results and usage come back per request, each charged its own share.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';

const calls: number[] = [];
let worker: HttpWorkerServer;
let plain: HttpWorkerServer;
let h: Harness;

before(async () => {
  worker = await serveHttp(
    defineWorker<{ lang: string; text: string }, { upper: string }>({
      name: 'batcher',
      dedupe: false,
      handler: () => {
        throw new Error('single jobs are not expected in this test');
      },
      batchHandler: (jobs, ctx) => {
        calls.push(jobs.length);
        return jobs.map((j, i) => {
          ctx.addUsage(i, { inputTokens: j.input.text.length, outputTokens: 1 });
          return { upper: j.input.text.toUpperCase() };
        });
      },
    }),
  );
  plain = await startSpender();
  h = await startHarness({
    resources: { 'llm.b': { kind: 'tokens', model: 'b', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.001 } },
    workers: { batcher: { transport: 'http', url: worker.url, max_concurrency: 20 }, plain: { transport: 'http', url: plain.url, max_concurrency: 20 } },
    templates: {
      shout: { worker: 'batcher', model: 'b', max_tokens: 10, batch: { key: 'lang', window_ms: 300, max_size: 5 } },
      fan: { worker: 'plain', model: 'b', max_tokens: 10, batch: { key: 'g', window_ms: 100, max_size: 3 } },
    },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
  await plain?.close();
});

test('a worker without a batch handler answers batch calls job by job', async () => {
  const c = await h.createClient('standard');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'fan', input: { g: 1 } } })).body.request_id as string);
  const done = await Promise.all(ids.map((id) => h.waitTerminal(id, c.key)));
  assert.deepEqual(done.map((x) => x.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
  assert.deepEqual(done.map((x) => x.cost_usd), [0.01, 0.01, 0.01], 'each used its 10 output tokens');
  const stats = await h.call('GET', `/api/optimize/stats/${c.id}`, { key: c.key });
  assert.equal(stats.body.strategies.batching.calls_saved, 2);
});

test('same batch key within the window: one call, results and costs split back per request', async () => {
  const a = await h.createClient('standard');
  const b = await h.createClient('standard');
  const submit = async (key: string, lang: string, text: string): Promise<string> => {
    const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template: 'shout', input: { lang, text } } });
    assert.equal(r.status, 202, r.text);
    return r.body.request_id as string;
  };
  const en = [await submit(a.key, 'en', 'a'), await submit(b.key, 'en', 'bb'), await submit(a.key, 'en', 'ccc'), await submit(b.key, 'en', 'dddd'), await submit(a.key, 'en', 'eeeee')];
  const fr = [await submit(a.key, 'fr', 'x'), await submit(b.key, 'fr', 'yy')];
  const owners = [a, b, a, b, a, a, b];
  const done = await Promise.all([...en, ...fr].map((id, i) => h.waitTerminal(id, (owners[i] as { key: string }).key)));
  assert.deepEqual(done.map((x) => x.status), Array(7).fill('COMPLETED'));
  assert.deepEqual(calls.toSorted(), [2, 5], 'five English requests in one call (max_size), two French ones after the window');
  assert.deepEqual(done.map((x) => x.output.upper), ['A', 'BB', 'CCC', 'DDDD', 'EEEEE', 'X', 'YY']);
  // Each request is charged its own usage: its text length in input tokens plus one output token, at $0.001.
  assert.deepEqual(done.map((x) => x.cost_usd), [0.002, 0.003, 0.004, 0.005, 0.006, 0.002, 0.003]);
  const spentA = (await h.call('GET', `/api/usage/${a.id}/current`, { key: a.key })).body.spent_usd;
  assert.equal(spentA, 0.002 + 0.004 + 0.006 + 0.002, "client a pays for its own requests only");
  const stats = await h.call('GET', `/api/optimize/stats/${a.id}`, { key: a.key });
  const statsB = await h.call('GET', `/api/optimize/stats/${b.id}`, { key: b.key });
  assert.equal((stats.body.strategies.batching?.calls_saved ?? 0) + (statsB.body.strategies.batching?.calls_saved ?? 0), 5, '7 requests in 2 calls');
});
