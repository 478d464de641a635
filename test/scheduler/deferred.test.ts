/**
 * Deferred work runs only in off-peak windows, or once utilization has been
 * low for a while; scored work is not held up by it. Fake clock, real worker.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { nextUtc, sameDayUtc } from '../helpers/dates.ts';
import { defineWorker, serveHttp } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

async function withAllot(offpeak: Record<string, unknown>, clock: FakeClock, fn: (h: Harness, key: string) => Promise<void>): Promise<void> {
  const worker = await serveHttp(defineWorker({ name: 'noop', dedupe: false, handler: () => ({ ok: true }) }));
  let h: Harness | undefined;
  try {
    h = await startHarness({ scheduler: { offpeak }, workers: { noop: { transport: 'http', url: worker.url } }, templates: { job: { worker: 'noop' } } }, { clock });
    const c = await h.createClient('standard');
    await fn(h, c.key);
  } finally {
    await h?.close();
    await worker.close();
  }
}

async function submit(h: Harness, key: string, queue?: 'deferred'): Promise<string> {
  const r = await h.call('POST', '/api/queue/enqueue', { key, json: { template: 'job', input: {}, ...(queue ? { queue } : {}) } });
  assert.equal(r.status, 202, r.text);
  return r.body.request_id as string;
}

async function settled(h: Harness): Promise<void> {
  await h.scheduler.reap();
  h.scheduler.kick();
  await h.scheduler.settled();
}

const status = async (h: Harness, key: string, id: string): Promise<string> => (await h.call('GET', `/api/execution/${id}`, { key })).body.status;

describe('deferred work', () => {
  test('waits for the off-peak window; scored work runs meanwhile', async () => {
    const noon = nextUtc({ weekday: 1, hour: 12 }); // a Monday, 12:00 UTC
    const clock = new FakeClock(noon);
    await withAllot({ windows: [{ start: '22:00', end: '06:00' }], time_zone: 'UTC', low_utilization: null }, clock, async (h, key) => {
      const deferred = await submit(h, key, 'deferred');
      const normal = await submit(h, key);
      await settled(h);
      assert.equal(await status(h, key, normal), 'COMPLETED');
      assert.equal(await status(h, key, deferred), 'PENDING');
      const view = await h.call('GET', `/api/execution/${deferred}`, { key });
      assert.equal(view.body.level, 'deferred');
      const s = (await h.call('GET', '/status')).body.deferred;
      assert.deepEqual(s, { allowed: false, reason: 'peak', next_window_at: new Date(sameDayUtc(noon, 22)).toISOString() });

      clock.set(sameDayUtc(noon, 21, 59, 59));
      await settled(h);
      assert.equal(await status(h, key, deferred), 'PENDING', 'one second before the window');
      clock.set(sameDayUtc(noon, 22));
      await settled(h);
      assert.equal(await status(h, key, deferred), 'COMPLETED', 'runs once the window opens');
      assert.equal((await h.call('GET', '/status')).body.deferred.reason, 'off-peak window');
    });
  });

  test('runs after utilization has been low for low_utilization.for_ms when no window is configured', async () => {
    const clock = new FakeClock(Date.now());
    await withAllot({ low_utilization: { below: 0.5, for_ms: 60_000 } }, clock, async (h, key) => {
      const deferred = await submit(h, key, 'deferred');
      await settled(h); // the first low sample
      assert.equal(await status(h, key, deferred), 'PENDING');
      clock.advance(59_000);
      await settled(h);
      assert.equal(await status(h, key, deferred), 'PENDING', 'low for 59 s is not yet a while');
      clock.advance(1_000);
      await settled(h);
      assert.equal(await status(h, key, deferred), 'COMPLETED');
    });
  });

  test('a bad window in the config names the key', async () => {
    const clock = new FakeClock();
    await assert.rejects(
      withAllot({ windows: [{ start: '25:00', end: '06:00' }] }, clock, async () => {}),
      (err: Error) => /scheduler\.offpeak\.windows\[0\]\.start/.test(err.message),
    );
  });
});
