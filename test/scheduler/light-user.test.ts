/**
 * A light user is not stuck behind a heavy one of the same tier: with a
 * heavy client's backlog saturating the bucket, the light client's request
 * is served at the next refill, not after the backlog.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { refillsByFakeClock } from '../helpers/app-backend.ts';
import { startSpender } from '../helpers/spender.ts';
import { startHarness } from '../helpers/app-harness.ts';

test("a light client's request overtakes a heavy client's backlog", { skip: refillsByFakeClock() }, async () => {
  const worker = await startSpender();
  const clock = new FakeClock(Date.now());
  const h = await startHarness(
    {
      resources: { 'llm.f': { kind: 'tokens', model: 'f', unit: 'token', capacity: 1000, refill_per_s: 100, cost_per_unit_usd: 0 } },
      workers: { spender: { transport: 'http', url: worker.url, max_concurrency: 50 } },
      templates: { job: { worker: 'spender', model: 'f', max_tokens: 100 } },
    },
    { clock },
  );
  const step = async (): Promise<void> => {
    h.scheduler.kick();
    await h.scheduler.settled();
  };
  try {
    const heavy = await h.createClient('standard');
    const light = await h.createClient('standard');
    const backlog: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await h.call('POST', '/api/queue/enqueue', { key: heavy.key, json: { template: 'job', input: {} } });
      backlog.push(r.body.request_id as string);
    }
    await step(); // the first 10 drain the bucket
    clock.advance(5_000);
    await step(); // the heavy client takes the refill: 5 more
    const r = await h.call('POST', '/api/queue/enqueue', { key: light.key, json: { template: 'job', input: {} } });
    const lightId = r.body.request_id as string;
    const position = await h.call('GET', `/api/queue/position/${lightId}`, { key: light.key });
    assert.equal(position.body.position, 1, 'ranked first: the heavy client is far above its fair share');
    assert.ok(position.body.priority.parts.fairness > 9, JSON.stringify(position.body.priority));
    clock.advance(1_000); // room for one request
    await step();
    const view = await h.call('GET', `/api/execution/${lightId}`, { key: light.key });
    assert.equal(view.body.status, 'COMPLETED', 'served at the next refill');
    let heavyPending = 0;
    for (const id of backlog) if ((await h.call('GET', `/api/execution/${id}`, { key: heavy.key })).body.status === 'PENDING') heavyPending++;
    assert.ok(heavyPending >= 40, `most of the older heavy backlog is still waiting (${heavyPending})`);
  } finally {
    await h.close();
    await worker.close();
  }
});
