/** Streaming a request's progress as Server-Sent Events (SPEC section 6). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { readEvents } from '../helpers/sse.ts';

let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await serveHttp(defineWorker<{ n: number }>({
    name: 'stepper', dedupe: false,
    handler: async (job, ctx) => {
      for (const p of [25, 50, 75]) {
        ctx.progress(p, `step ${p}`);
        await sleep(120); // Longer than the SDK's progress coalescing, so each step is posted.
      }
      return { n: job.input.n };
    },
  }));
  h = await startHarness({ workers: { stepper: { transport: 'http', url: worker.url } }, templates: { steps: { worker: 'stepper', timeout_ms: 10_000 } } });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('streams status, each progress step, and the end with the output', async () => {
  const c = await h.createClient('standard');
  const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'steps', input: { n: 7 } } });
  assert.equal(q.status, 202, q.text);
  const res = await h.app.request(`/api/execution/${q.body.request_id}/events`, { headers: { authorization: `Bearer ${c.key}` } });
  assert.equal(res.status, 200);
  assert.ok(res.headers.get('content-type')?.startsWith('text/event-stream'));
  const events = await readEvents(res);
  assert.equal(events[0]?.event, 'status');
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.percent);
  assert.ok(progress.length >= 2, JSON.stringify(events.map((e) => e.event)));
  assert.deepEqual(progress, [...progress].toSorted((a, b) => a - b), 'in order');
  const end = events.at(-1);
  assert.equal(end?.event, 'end');
  assert.equal(end?.data.status, 'COMPLETED');
  assert.deepEqual(end?.data.output, { n: 7 });
  assert.equal(events.filter((e) => e.event === 'end').length, 1);
});

test('a request that has ended gets its end at once; another client’s request is not found', async () => {
  const c = await h.createClient('standard');
  const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'steps', input: { n: 1 } } });
  assert.equal(r.body.status, 'COMPLETED', r.text);
  const res = await h.app.request(`/api/execution/${r.body.request_id}/events`, { headers: { authorization: `Bearer ${c.key}` } });
  const events = await readEvents(res);
  assert.deepEqual(events.map((e) => e.event), ['end']);
  const other = await h.createClient('standard');
  const denied = await h.call('GET', `/api/execution/${r.body.request_id}/events`, { key: other.key });
  assert.equal(denied.status, 404);
});

test('a cancelled request ends its stream with CANCELLED', async () => {
  const c = await h.createClient('standard');
  const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'steps', input: { n: 2 } } });
  const res = await h.app.request(`/api/execution/${q.body.request_id}/events`, { headers: { authorization: `Bearer ${c.key}` } });
  const reading = readEvents(res);
  await sleep(150);
  assert.equal((await h.call('POST', `/api/execution/${q.body.request_id}/cancel`, { key: c.key })).status, 200);
  const events = await reading;
  assert.equal(events.at(-1)?.event, 'end');
  assert.equal(events.at(-1)?.data.status, 'CANCELLED');
});
