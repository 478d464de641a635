/**
 * A large request among a stream of small ones on the same bucket: once it
 * has waited hold_after_ms, the bucket is held for it, so it runs after the
 * refill it needs instead of waiting for the starvation bound. Driven with a
 * fake clock; the worker is real (an SDK worker on loopback) and reports the
 * tokens it was allowed as used, so small requests keep the bucket drained.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { refillsByFakeClock } from '../helpers/app-backend.ts';
import { startSpender } from '../helpers/spender.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

const CAPACITY = 10_000;
const REFILL = 1_000;

async function scenario(holdAfterMs: number): Promise<{ bigStartedAfterMs: number | null; smallsWhileWaiting: number; holds: Record<string, string>[] }> {
  const worker = await startSpender();
  const clock = new FakeClock(Date.now());
  let h: Harness | undefined;
  try {
    h = await startHarness(
      {
        scheduler: { hold_after_ms: holdAfterMs, starvation_ms: 600_000 },
        // input_overhead_tokens 0: the spender bills exactly max_tokens, and the refill arithmetic below counts on it.
        resources: { 'llm.one': { kind: 'tokens', model: 'one', unit: 'token', capacity: CAPACITY, refill_per_s: REFILL, cost_per_unit_usd: 0, input_overhead_tokens: 0 } },
        workers: { 'w-big': { transport: 'http', url: worker.url, max_concurrency: 50 }, 'w-small': { transport: 'http', url: worker.url, max_concurrency: 50 } },
        templates: {
          big: { worker: 'w-big', model: 'one', max_tokens: 8_000 },
          small: { worker: 'w-small', model: 'one', max_tokens: 500 },
        },
      },
      { clock },
    );
    const hh = h;
    const c = await hh.createClient('enterprise');
    const submit = async (template: string, maxTokens: number): Promise<string> => {
      const r = await hh.call('POST', '/api/queue/enqueue', { key: c.key, json: { template, input: {}, max_tokens: maxTokens } });
      assert.equal(r.status, 202, r.text);
      return r.body.request_id as string;
    };
    const state = async (id: string): Promise<string> => (await hh.call('GET', `/api/execution/${id}`, { key: c.key })).body.status;
    const settle = async (): Promise<void> => {
      // Let dispatches reach the worker and complete (real HTTP on loopback).
      await hh.scheduler.settled();
    };

    // Drain the bucket with small requests.
    for (let i = 0; i < CAPACITY / 500; i++) await submit('small', 500);
    await settle();
    const big = await submit('big', 7_990);
    assert.equal(await state(big), 'PENDING', 'the bucket is empty: the large request waits');

    let smallsWhileWaiting = 0;
    const holds: Record<string, string>[] = [];
    let startedAfter: number | null = null;
    for (let t = 500; t <= 20_000; t += 500) {
      clock.advance(500); // +500 tokens of refill
      const s = await submit('small', 500);
      hh.scheduler.kick();
      await new Promise((r) => setTimeout(r, 5));
      await settle();
      holds.push(hh.scheduler.holds());
      if (Object.keys(hh.scheduler.holds()).length) {
        // /status needs no key: it names the held resource, never the request (another client's id) it is held for.
        const open = (await hh.call('GET', '/status')).body.queue;
        assert.deepEqual(open.holds, ['llm.one']);
        assert.equal(open.hold_requests, undefined);
        assert.ok(!JSON.stringify(open).includes(big));
        assert.deepEqual((await hh.call('GET', '/status', { key: hh.adminKey })).body.queue.hold_requests, { 'llm.one': big });
      }
      if ((await state(s)) !== 'PENDING') smallsWhileWaiting++;
      if (startedAfter === null && (await state(big)) !== 'PENDING') {
        startedAfter = t;
        break;
      }
    }
    return { bigStartedAfterMs: startedAfter, smallsWhileWaiting, holds };
  } finally {
    await h?.close();
    await worker.close();
  }
}

describe('capacity held for a long-waiting large request', { skip: refillsByFakeClock() }, () => {
  const results: Awaited<ReturnType<typeof scenario>>[] = [];
  after(() => {
    if (results.length) process.stdout.write(`# held: big started after ${results[0]?.bigStartedAfterMs} ms\n`);
  });

  test('with hold_after_ms 1 s, the large request starts once the bucket has refilled for it', async () => {
    const r = await scenario(1_000);
    results.push(r);
    assert.notEqual(r.bigStartedAfterMs, null, 'the large request started');
    // It needs 7,990 tokens at 1,000/s: about 8 s of refill after the hold begins at ~1 s.
    assert.ok((r.bigStartedAfterMs as number) >= 8_000 && (r.bigStartedAfterMs as number) <= 10_500, `started after ${r.bigStartedAfterMs} ms`);
    assert.ok(r.holds.some((x) => Object.keys(x).includes('llm.one')), 'the bucket was held');
    assert.ok(r.smallsWhileWaiting <= 2, `small requests were held back while it waited (${r.smallsWhileWaiting} ran)`);
  });

  test('without the hold (hold_after_ms beyond the test), small requests keep taking the refill and it waits', async () => {
    const r = await scenario(3_600_000);
    assert.equal(r.bigStartedAfterMs, null, 'still waiting after 20 s');
    assert.ok(r.smallsWhileWaiting >= 30, `small requests ran meanwhile (${r.smallsWhileWaiting})`);
  });
});
