/**
 * Alert thresholds configurable per kind (config `alerts.thresholds`): a
 * queue of 3 is a backup when the threshold is 2, and a client at two
 * thirds of its budget is "high" when the threshold is 0.5; with SPEC's
 * defaults (1,000 and 0.95) neither would fire. Bad values are named.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';
import type { HttpWorkerServer } from '../../packages/worker/src/index.ts';

let h: Harness;
let worker: HttpWorkerServer;

before(async () => {
  worker = await startSpender();
  h = await startHarness({
    alerts: { interval_ms: 3_600_000, thresholds: { queue_backup: { above: 2 }, budget_high: { above: 0.5 } } },
    resources: { 'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 100_000, refill_per_s: 100_000, cost_per_unit_usd: 0.00001 } },
    workers: { spender: { transport: 'http', url: worker.url } },
    templates: { ask: { worker: 'spender', model: 'test-llm', max_tokens: 1000 } },
  });
});

after(async () => {
  await h?.close();
  await worker?.close();
});

const firing = async (): Promise<Json[]> => (await h.call('GET', '/admin/alerts', { key: h.adminKey })).body.alerts;

test('a queue of 3 is a backup over a threshold of 2; a client at 2/3 of its budget is high over 0.5', async () => {
  const est = await h.call('POST', '/api/resources/estimate', { key: h.adminKey, json: { template: 'ask', input: { q: 'x' } } });
  const max = est.body.estimate.max_cost_usd as number;
  const c = await h.createClient('standard', { monthly_budget_usd: Math.round(max * 1.5 * 1e6) / 1e6 });
  const other = await h.createClient('enterprise');
  await h.call('POST', '/admin/scheduler/stop', { key: h.adminKey });
  try {
    assert.equal((await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'ask', input: { q: 'x' } } })).status, 202);
    let now = await firing();
    const high = now.find((a) => a.kind === 'budget_high' && a.subject === c.id);
    assert.ok(high, `budget_high fires at ${(1 / 1.5).toFixed(2)} of the budget: ${JSON.stringify(now)}`);
    assert.equal(high.severity, 'warning');
    assert.ok(!now.some((a) => a.kind === 'queue_backup'), 'a queue of 1 is no backup');
    for (let i = 0; i < 2; i++) assert.equal((await h.call('POST', '/api/queue/enqueue', { key: other.key, json: { template: 'ask', input: { q: `y${i}` } } })).status, 202);
    now = await firing();
    const backup = now.find((a) => a.kind === 'queue_backup');
    assert.ok(backup, `queue_backup fires at 3 queued: ${JSON.stringify(now)}`);
    assert.equal(backup.value, 3);
  } finally {
    await h.call('POST', '/admin/scheduler/start', { key: h.adminKey });
  }
});

test('bad thresholds are named by their key', async () => {
  const { resolveConfig, ConfigError } = await import('../../src/config/resolve.ts');
  const bad = JSON.stringify({ alerts: { thresholds: { pool_low: { below: 1.5 }, queue_backup: { above: -1 }, request_starving: { after_ms: 0 }, nope: {} } } });
  assert.throws(
    () => resolveConfig({ ALLOT_CONFIG: 'c.json' }, () => bad),
    (err: unknown) => err instanceof ConfigError
      && /alerts\.thresholds\.pool_low\.below/.test(err.message) && /alerts\.thresholds\.queue_backup\.above/.test(err.message)
      && /alerts\.thresholds\.request_starving\.after_ms/.test(err.message) && /nope/.test(err.message),
  );
  const ok = resolveConfig({ ALLOT_CONFIG: 'c.json' }, () => JSON.stringify({ alerts: { thresholds: { pool_low: { below: 0.25 } } } }));
  assert.deepEqual(ok.alerts.thresholds, { poolLowBelow: 0.25, budgetHighAbove: 0.95, queueBackupAbove: 1000, starvingAfterMs: 600_000, overuseWindowMs: 900_000 });
});
