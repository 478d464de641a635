/**
 * In the scale-out mode the relay queues a request it heard was accepted on
 * another instance, from a row it read; the read can come back after this
 * instance claimed the request, showing it PENDING still. Such a stale
 * announcement must not queue a running request again: launched a second
 * time, it replaced the running entry, its claim failed, and the worker's
 * answer was dropped (RUNNING until the lease ran out: seen in the
 * three-instance bench). Runs on each backend; the relay's message is
 * replayed here with the row as it was read.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

let h: Harness;
let worker: HttpWorkerServer;
let calls = 0;

before(async () => {
  worker = await serveHttp(defineWorker<{ n: number }>({
    name: 'slow', dedupe: false,
    handler: async (job) => {
      calls++;
      await sleep(300);
      return { n: job.input.n };
    },
  }));
  h = await startHarness({ workers: { slow: { transport: 'http', url: worker.url } }, templates: { same: { worker: 'slow', timeout_ms: 10_000 } } });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

test('a running request announced again as PENDING (a stale read) runs once and ends, and so does the next one', async () => {
  const c = await h.createClient('standard');
  const first = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'same', input: { n: 1 } } });
  assert.equal(first.status, 202, first.text);
  const id = first.body.request_id as string;
  for (let i = 0; i < 100 && (await h.store.getRequest(id))?.state !== 'RUNNING'; i++) await sleep(10);
  const running = await h.store.getRequest(id);
  assert.equal(running?.state, 'RUNNING');
  // The relay's late message, with the row as it was read before the claim.
  h.scheduler.enqueued({ ...(running as NonNullable<typeof running>), state: 'PENDING', leaseToken: 0, attempts: 0, startedAt: null });
  // Another request meanwhile.
  const twin = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'same', input: { n: 1 } } });
  const [a, b] = await Promise.all([h.waitTerminal(id, c.key, 5_000), h.waitTerminal(twin.body.request_id as string, c.key, 5_000)]);
  assert.deepEqual([a.status, b.status], ['COMPLETED', 'COMPLETED']);
  assert.deepEqual(a.output, { n: 1 });
  assert.equal(calls, 2, 'the worker ran each once');
});
