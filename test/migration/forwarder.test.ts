/**
 * A v2 request submitted again after a crash (same request_id) can find the
 * legacy orchestrator done with it already. Its answer to a submit names the
 * status only; the forwarder used to end the request COMPLETED with a null
 * output and no cost (the client got nothing and was not charged). It now
 * reads the execution for its output and cost. Against the v2 stand-in
 * (examples/v2-orchestrator) as a real process.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { systemClock } from '../../src/core/clock.ts';
import { Events } from '../../src/events.ts';
import { Forwarder } from '../../src/migrate/forwarder.ts';
import { LegacyClient } from '../../src/migrate/legacy-client.ts';
import { LegacyPoller } from '../../src/migrate/poller.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { makeRequest } from '../contract/fixtures.ts';
import { startProcess, ROOT, type Proc } from '../helpers/proc.ts';

let v2: Proc;
let v2Url = '';
let dir = '';

before(async () => {
  v2 = await startProcess([join(ROOT, 'examples/v2-orchestrator/server.ts'), '--port', '0', '--latency-ms', '5'], { ready: /listening on (http:\/\/\S+)/ });
  v2Url = /listening on (http:\/\/\S+)/.exec(v2.output())?.[1] as string;
  dir = mkdtempSync(join(tmpdir(), 'allot-forwarder-'));
});

after(async () => {
  await v2?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a request v2 finished before Allot recorded sending it ends with v2’s output and cost', async () => {
  const legacy = new LegacyClient(v2Url, { callTimeoutMs: 5_000 });
  const input = { text: 'Token buckets refill at a steady rate. Budgets are held for the worst case.', sentences: 1 };
  const r = makeRequest({ id: `fw-${Date.now()}`, template: 'summarize', input, system: 'v2', holdNano: 1_000_000 });
  // As before a crash: v2 took the request (and finished it); Allot had not recorded that yet.
  await legacy.submit({ requestId: r.id, template: 'summarize', clientId: r.clientId, input, priority: 'normal', parameters: {} });
  let done = await legacy.get((await legacy.submit({ requestId: r.id, template: 'summarize', clientId: r.clientId, input, priority: 'normal', parameters: {} })).executionId);
  for (let i = 0; i < 100 && done?.status !== 'completed'; i++) {
    await new Promise((res) => setTimeout(res, 20));
    done = await legacy.get(done?.executionId as string);
  }
  assert.equal(done?.status, 'completed');
  assert.ok(done?.output !== null && done?.output !== undefined, 'v2 has an output');

  const store = new SqliteStore(join(dir, 'a.db'));
  await store.migrate();
  const events = new Events();
  const poller = new LegacyPoller(legacy, systemClock, { intervalMs: 20 });
  const forwarder = new Forwarder({ store, events, clock: systemClock, legacy, poller, log: pino({ level: 'silent' }), timeoutMs: 10_000 });
  try {
    await store.enqueue({ request: r, budgetLimitNano: null });
    const ended = new Promise<void>((res) => events.once('request:completed', () => res()));
    forwarder.take(r);
    await ended;
    const ended2 = await store.getRequest(r.id);
    assert.equal(ended2?.state, 'COMPLETED');
    assert.deepEqual(ended2?.output, done?.output, 'v2’s output, not null');
    assert.ok((ended2?.costNano ?? 0) > 0, 'and its cost charged');
  } finally {
    await forwarder.stop();
    poller.stop();
    await store.close();
  }
});
