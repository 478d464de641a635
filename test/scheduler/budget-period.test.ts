/**
 * Budgets are monthly in the configured time zone: a client at its limit is
 * refused until the month turns there, then starts the new period at zero
 * (holds and spend of the old period stay with it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/core/clock.ts';
import { nextMonthStart } from '../helpers/dates.ts';
import { startSpender } from '../helpers/spender.ts';
import { assertEnvelope, startHarness } from '../helpers/app-harness.ts';

test('the budget period turns at local midnight on the 1st, in budget.time_zone', async () => {
  const worker = await startSpender();
  // Half an hour before a month starts in New York (04:30 or 03:30 UTC, with daylight saving time).
  const turn = nextMonthStart('America/New_York');
  const clock = new FakeClock(turn.at - 30 * 60_000);
  const h = await startHarness(
    {
      budget: { time_zone: 'America/New_York' },
      resources: { 'llm.b': { kind: 'tokens', model: 'b', unit: 'token', capacity: 1e6, refill_per_s: 1e6, cost_per_unit_usd: 0.001 } },
      workers: { spender: { transport: 'http', url: worker.url } },
      templates: { job: { worker: 'spender', model: 'b', max_tokens: 1000 } },
    },
    { clock },
  );
  try {
    const c = await h.createClient('basic', { monthly_budget_usd: 1.5 });
    const run = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'job', input: {} } });
    assert.equal(run.status, 200, run.text);
    assert.equal(run.body.cost_usd, 1, '1,000 tokens at $0.001');
    let u = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(u.body.period, turn.before);
    assert.equal(u.body.spent_usd, 1);
    assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'job', input: {} } }), 402, 'BUDGET_EXCEEDED');

    clock.set(turn.at - 1_000); // 23:59:59 in New York
    assertEnvelope(await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'job', input: {} } }), 402, 'BUDGET_EXCEEDED');

    clock.set(turn.at); // midnight on the 1st in New York
    u = await h.call('GET', `/api/usage/${c.id}/current`, { key: c.key });
    assert.equal(u.body.period, turn.after);
    assert.equal(u.body.spent_usd, 0);
    const next = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'job', input: {} } });
    assert.equal(next.status, 200, next.text);
    const all = await h.call('GET', `/api/usage/${c.id}`, { key: c.key });
    assert.deepEqual(
      (all.body.periods as { period: string; spent_usd: number }[]).map((p) => [p.period, p.spent_usd]),
      [[turn.after, 1], [turn.before, 1]],
    );
  } finally {
    await h.close();
    await worker.close();
  }
});
