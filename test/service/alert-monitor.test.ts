/**
 * Scaled out, alerts are checked on the scheduling instance alone (its
 * queue, one decision, one webhook delivery); elsewhere a check answers with
 * what the store holds. Real timers at 20 ms; the conditions and the store
 * are counted stand-ins (what a check writes is covered by test/http/alerts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { AlertMonitor } from '../../src/service/alert-monitor.ts';
import { systemClock } from '../../src/core/clock.ts';
import { Events } from '../../src/events.ts';
import type { Store } from '../../src/store/store.ts';

function monitor(): { m: AlertMonitor; checks: () => number; reads: () => number } {
  let checks = 0;
  let reads = 0;
  const store = { openAlerts: async () => (reads++, []) } as unknown as Store;
  const m = new AlertMonitor({ store, clock: systemClock, events: new Events(), log: pino({ level: 'silent' }), webhook: null, conditions: async () => (checks++, []) }, { intervalMs: 20 });
  return { m, checks: () => checks, reads: () => reads };
}

test('a follower does not check; elected, it checks every interval; deposed, it stops', async () => {
  const { m, checks, reads } = monitor();
  m.start(false);
  await sleep(100);
  assert.equal(checks(), 0, 'no checks before it leads');
  assert.deepEqual(await m.check(), []);
  assert.equal(checks(), 0, 'asked on a follower: the stored alerts, not its own view');
  assert.equal(reads(), 1);
  m.lead(true);
  await sleep(100);
  const led = checks();
  assert.ok(led >= 2, `checked while leading (${led})`);
  m.lead(false);
  await sleep(60);
  const after = checks();
  await sleep(100);
  assert.equal(checks(), after, 'no checks once deposed');
  await m.stop();
});

test('alone (not scaled out), it checks from the start', async () => {
  const { m, checks } = monitor();
  m.start();
  await sleep(100);
  assert.ok(checks() >= 2);
  await m.stop();
});
