/**
 * Legacy Orchestrator 2.0 workers keep working: Allot drives the v2 stand-in
 * (examples/v2-legacy, a separate process) through handshake, process with
 * references, progress and acknowledge.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, startProcess, type Proc } from '../helpers/proc.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { startSpender } from '../helpers/spender.ts';

const TOKEN = 'legacy-worker-token-0123';
let h: Harness;
let legacy: Proc;
let legacyUrl: string;

before(async () => {
  // "openai" is a count resource here: the stand-in declares `api_calls: { openai: 1, anthropic: 0 }` at handshake.
  h = await startHarness({ resources: { openai: { kind: 'count', unit: 'call', capacity: 100, refill_per_s: 10, cost_per_unit_usd: 0.002 } } });
  legacy = await startProcess([join(ROOT, 'examples/v2-legacy/server.ts'), '--port', '0', '--orchestrator', h.relayUrl, '--token', TOKEN, '--name', 'legacy'], {
    ready: /listening on (http:\/\/\S+)/,
  });
  legacyUrl = /listening on (http:\/\/\S+)/.exec(legacy.output())?.[1] as string;
  // No transport given: detected from the worker's GET /health.
  const w = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'legacy', url: legacyUrl, token: TOKEN } });
  assert.equal(w.status, 201, w.text);
  assert.equal(w.body.worker.transport, 'v2');
  const t = await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'count', worker: 'legacy', timeout_ms: 10_000 } });
  assert.equal(t.status, 201, t.text);
});

after(async () => {
  await h?.close();
  await legacy?.stop();
});

test('small input inline, large input and output by reference, then acknowledged', async () => {
  const c = await h.createClient('standard');
  const small = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count', input: { text: 'three small words' } } });
  assert.equal(small.status, 200, small.text);
  assert.equal(small.body.status, 'COMPLETED', small.text);
  assert.deepEqual(small.body.output, { words: 3, upper: 'THREE SMALL WORDS' });
  assert.equal(small.body.usage.tokens.output, 3, 'tokens_used counted as output tokens');

  const text = 'legacy workers must keep working during the migration '.repeat(60); // ~3.3 KB
  const big = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count', input: { text } } });
  assert.equal(big.body.status, 'COMPLETED', big.text);
  assert.equal(big.body.output.words, 480);
  assert.equal(big.body.output.upper, text.toUpperCase(), 'the large output was read back by reference');

  const stats = (await (await fetch(`${legacyUrl}/stats`)).json()) as { handshakes: number; processed: number; acknowledged: number; fetchedRefs: number };
  assert.deepEqual(stats, { handshakes: 2, processed: 2, acknowledged: 2, fetchedRefs: 1 }, 'the large input was fetched from Allot by reference');
});

test('resources declared at handshake feed the reservation of later requests for that worker', async () => {
  const c = await h.createClient('standard');
  const first = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count', input: { text: 'one two' } } });
  assert.equal(first.body.status, 'COMPLETED', first.text);
  assert.deepEqual(h.deps.registry.requirementsOf('legacy'), { openai: 1 }, 'declared api_calls kept for managed resources only (anthropic is not one, and 0)');
  assert.equal(await h.store.getSetting('requirements:legacy'), JSON.stringify({ openai: 1 }), 'kept across restarts');
  const second = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count', input: { text: 'three four' } } });
  assert.equal(second.body.status, 'COMPLETED', second.text);
  assert.equal(second.body.estimate.resources.openai, 1, 'the estimate reserves what the worker declared');
  assert.equal(second.body.estimate.max_cost_usd, 0.002, 'and holds its price from the budget');
  const claimed = (await h.store.listAudit({ requestId: second.body.request_id })).find((e) => e.to === 'PREPARING');
  assert.deepEqual((claimed?.data as { reserved?: unknown } | null)?.reserved, { openai: 1 }, 'taken from the openai bucket when it ran');
});

test('a worker registered without a transport is detected from its /health', async () => {
  const direct = await startSpender();
  try {
    const r = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'direct', url: direct.url } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.worker.transport, 'http');
    const down = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'gone', url: 'http://127.0.0.1:9/' } });
    assert.equal(down.status, 400);
    assert.match(down.body.error.message, /transport: not given/);
  } finally {
    await direct.close();
  }
});
