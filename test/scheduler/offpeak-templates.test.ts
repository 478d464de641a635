/**
 * Off-peak scheduling per template (SPEC section 5): low-urgency requests of
 * a template that allows it wait for the off-peak window, but run anyway once
 * the template's deadline has passed; other urgencies and optimize:false run now.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { nextUtc, sameDayUtc } from '../helpers/dates.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';

test('low-urgency work waits for off-peak, up to the template deadline', async () => {
  const worker = await startSpender();
  const noon = nextUtc({ hour: 12 });
  const clock = new FakeClock(noon);
  let h: Harness | undefined;
  try {
    h = await startHarness(
      {
        scheduler: { offpeak: { windows: [{ start: '22:00', end: '06:00' }], time_zone: 'UTC', low_utilization: null } },
        workers: { spender: { transport: 'http', url: worker.url } },
        templates: { nightly: { worker: 'spender', offpeak: { allowed: true, deadline_ms: 3_600_000 } } },
      },
      { clock },
    );
    const hh = h;
    const c = await hh.createClient('standard');
    const submit = async (json: Record<string, unknown>): Promise<string> => {
      const r = await hh.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'nightly', input: {}, ...json } });
      assert.equal(r.status, 202, r.text);
      return r.body.request_id as string;
    };
    const settle = async (): Promise<void> => {
      await hh.scheduler.reap();
      hh.scheduler.kick();
      await hh.scheduler.settled();
    };
    const view = async (id: string) => (await hh.call('GET', `/api/execution/${id}`, { key: c.key })).body;

    const low = await submit({ urgency: 'low' });
    const normal = await submit({});
    const optedOut = await submit({ urgency: 'low', optimize: false });
    await settle();
    assert.equal((await view(normal)).status, 'COMPLETED');
    assert.equal((await view(optedOut)).status, 'COMPLETED');
    const waiting = await view(low);
    assert.equal(waiting.status, 'PENDING');
    assert.equal(waiting.level, 'deferred');

    clock.advance(3_599_000);
    await settle();
    assert.equal((await view(low)).status, 'PENDING', 'one second before the deadline');
    clock.advance(1_000);
    await settle();
    assert.equal((await view(low)).status, 'COMPLETED', 'the deadline passed: it runs anyway');

    clock.set(sameDayUtc(noon, 21, 30));
    const evening = await submit({ urgency: 'low' });
    await settle();
    assert.equal((await view(evening)).status, 'PENDING');
    clock.set(sameDayUtc(noon, 22));
    await settle();
    assert.equal((await view(evening)).status, 'COMPLETED', 'the window opened before the deadline');
  } finally {
    await h?.close();
    await worker.close();
  }
});
