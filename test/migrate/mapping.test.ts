/** The v2 → Allot mapping, row by row, without a database. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checksum, differingFields, executionFacts, mapExecution, mapTemplate, mapWorker, parseCapabilities, parseCost, parseTime, parseUrgency,
  type Availability, type MappedExecution,
} from '../../src/migrate/mapping.ts';

const known = (...names: string[]) => (n: string): Availability => (names.includes(n) ? 'ok' : n === 'broken' ? 'malformed' : 'unknown');

describe('v2 values', () => {
  it('reads timestamps as ISO 8601, SQLite UTC text, epoch seconds and epoch milliseconds', () => {
    const t = Date.UTC(2026, 10, 20, 10, 0, 0);
    assert.equal(parseTime('2026-11-20T10:00:00Z'), t);
    assert.equal(parseTime('2026-11-20T11:00:00+01:00'), t);
    assert.equal(parseTime('2026-11-20 10:00:00'), t, 'CURRENT_TIMESTAMP text is UTC, not local time');
    assert.equal(parseTime(t / 1000), t);
    assert.equal(parseTime(String(t / 1000)), t);
    assert.equal(parseTime(t), t);
    assert.equal(parseTime(null), null);
    assert.equal(parseTime('yesterday'), undefined);
    assert.equal(parseTime(-5), undefined);
  });

  it('maps priorities: words, 0-10 numbers, NULL', () => {
    assert.equal(parseUrgency('HIGH'), 'high');
    assert.equal(parseUrgency('urgent'), 'critical');
    assert.equal(parseUrgency('medium'), 'normal');
    assert.equal(parseUrgency(null), 'normal');
    assert.deepEqual([10, 9, 8, 7, 6, 4, 3, 0].map(parseUrgency), ['critical', 'critical', 'high', 'high', 'normal', 'normal', 'low', 'low']);
    assert.equal(parseUrgency('7'), 'high');
    assert.equal(parseUrgency(11), undefined);
    assert.equal(parseUrgency(-1), undefined);
    assert.equal(parseUrgency('asap'), undefined);
  });

  it('reads cost_usd into exact nano-dollars', () => {
    assert.equal(parseCost(0.0125), 12_500_000);
    assert.equal(parseCost('0.1'), 100_000_000);
    assert.equal(parseCost(null), 0);
    assert.equal(parseCost(-1), undefined);
    assert.equal(parseCost('free'), undefined);
  });

  it('flattens the seed\'s capabilities object and keeps a list as it is', () => {
    assert.deepEqual(parseCapabilities('{"input_types":["text","json"],"output_types":["html"],"streaming":true,"x":false}'), [
      'input_types:text', 'input_types:json', 'output_types:html', 'streaming',
    ]);
    assert.deepEqual(parseCapabilities('["a","b"]'), ['a', 'b']);
    assert.deepEqual(parseCapabilities(null), []);
    assert.equal(parseCapabilities('{oops'), undefined);
    assert.equal(parseCapabilities('[1]'), undefined);
  });
});

describe('worker_registry rows', () => {
  const seed = {
    worker_name: 'bitware_topic_researcher', worker_url: 'https://bitware-topic-researcher.workers.dev', status: 'active',
    capabilities: '{"input_types":["text","json","reference"],"output_types":["json","html"]}', protocol_version: '2.0',
    supports_handshake: 1, supports_streaming: 0, max_concurrent_executions: 10, avg_execution_time_ms: 60000,
  };

  it('maps the seed\'s row to a v2-handshake worker', () => {
    const m = mapWorker(seed, 0);
    assert.ok(m.ok, JSON.stringify(m));
    assert.equal(m.value.name, 'bitware_topic_researcher');
    assert.equal(m.value.status, 'active');
    assert.deepEqual(m.value.input, {
      transport: 'v2', url: 'https://bitware-topic-researcher.workers.dev', max_concurrency: 10,
      capabilities: ['input_types:text', 'input_types:json', 'input_types:reference', 'output_types:json', 'output_types:html'],
    });
  });

  it('is a direct HTTP worker without the handshake or on another protocol version', () => {
    for (const change of [{ supports_handshake: 0 }, { supports_handshake: 'false' }, { protocol_version: '1.0' }, { protocol_version: null }]) {
      const m = mapWorker({ ...seed, ...change }, 0);
      assert.ok(m.ok);
      assert.equal(m.value.input.transport, 'http', JSON.stringify(change));
    }
    const t = mapWorker({ ...seed, supports_handshake: 'true', protocol_version: 2 }, 0);
    assert.ok(t.ok && t.value.input.transport === 'v2');
  });

  it('names the v2 column of each problem', () => {
    const m = mapWorker({ ...seed, worker_url: 'ftp://x', max_concurrent_executions: 0, supports_handshake: 'maybe' }, 0);
    assert.ok(!m.ok);
    assert.match(m.reason, /supports_handshake: not a boolean/);
    assert.match(m.reason, /max_concurrent_executions: must be a positive integer/);
    const u = mapWorker({ ...seed, worker_url: 'ftp://x' }, 0);
    assert.ok(!u.ok);
    assert.match(u.reason, /^worker_url: /);
    const n = mapWorker({ ...seed, worker_name: null }, 4);
    assert.ok(!n.ok);
    assert.equal(n.key, '#5', 'a row without its key is named by position');
  });
});

describe('pipeline_templates rows', () => {
  it('makes one stage a single-worker template and several a pipeline in stage_order', () => {
    const one = mapTemplate({ template_name: 'sum', display_name: 'Summarize', stages: '[{"stage_order":1,"worker_name":"a","params":{"n":2}}]', is_active: 1 }, 0, known('a'));
    assert.ok(one.ok, JSON.stringify(one));
    assert.deepEqual(one.value.input, { worker: 'a', parameters: { n: 2 }, description: 'Summarize (imported from Orchestrator v2)' });
    const two = mapTemplate({ template_name: 'p', stages: '[{"stage_order":2,"worker_name":"b"},{"stage_order":1,"worker_name":"a","params":null}]' }, 0, known('a', 'b'));
    assert.ok(two.ok, JSON.stringify(two));
    assert.deepEqual(two.value.input.stages, [{ worker: 'a', parameters: {} }, { worker: 'b', parameters: {} }]);
    assert.equal(two.value.active, true, 'is_active absent: active');
  });

  it('imports an inactive template and says so in its description', () => {
    const m = mapTemplate({ template_name: 'old', display_name: null, stages: '[{"worker_name":"a"}]', is_active: 0 }, 0, known('a'));
    assert.ok(m.ok);
    assert.equal(m.value.active, false);
    assert.equal(m.value.input.description, '(imported from Orchestrator v2; inactive there)');
  });

  it('rejects bad stages JSON, unknown and malformed workers, duplicate stage orders', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ stages: '[{"stage_order":1,' }, /stages: not valid JSON/],
      [{ stages: '[]' }, /stages: not a JSON array of 1-20 stages/],
      [{ stages: '[{"worker_name":"nobody"}]' }, /stages\[0\]\.worker_name: no worker "nobody" in worker_registry/],
      [{ stages: '[{"worker_name":"broken"}]' }, /the worker_registry row "broken" is malformed/],
      [{ stages: '[{"stage_order":1,"worker_name":"a"},{"stage_order":1,"worker_name":"a"}]' }, /stage_order: 1 appears twice/],
      [{ stages: '[{"worker_name":"a","params":[1]}]' }, /params: not a JSON object/],
      [{ stages: '[{"worker_name":"a"}]', is_active: 'perhaps' }, /is_active: not a boolean/],
    ];
    for (const [row, re] of cases) {
      const m = mapTemplate({ template_name: 't', ...row }, 0, known('a'));
      assert.ok(!m.ok, JSON.stringify(row));
      assert.equal(m.key, 't');
      assert.match(m.reason, re);
    }
  });
});

describe('pipeline_executions rows', () => {
  const base = {
    execution_id: 'e1', template_name: 'sum', client_id: 'acme', status: 'queued', priority: 'high', input: '{"text":"hi"}', output: null,
    cost_usd: null, created_at: '2026-11-20 10:00:00', started_at: null, completed_at: null,
  };
  const map = (row: Record<string, unknown>) => mapExecution({ ...base, ...row }, 0, known('sum'));
  const ok = (row: Record<string, unknown>): MappedExecution => {
    const m = map(row);
    assert.ok(m.ok, JSON.stringify(m));
    return m.value;
  };

  it('maps every status: queued taken over, building and running left to v2, finished kept as history', () => {
    const created = Date.UTC(2026, 10, 20, 10);
    const q = ok({});
    assert.deepEqual([q.state, q.system, q.urgency, q.input, q.costNano, q.startedAt, q.completedAt], ['PENDING', undefined, 'high', { text: 'hi' }, 0, null, null]);
    const b = ok({ status: 'building' });
    assert.deepEqual([b.state, b.system, b.startedAt], ['PREPARING', 'v2', null]);
    const r = ok({ status: 'Running', cost_usd: 0.3, started_at: '2026-11-20T10:01:00Z' });
    assert.deepEqual([r.state, r.system, r.costNano, r.startedAt], ['RUNNING', 'v2', 0, created + 60_000], 'running work is charged when it ends');
    const c = ok({ status: 'completed', cost_usd: 0.25, output: '{"summary":"s"}', completed_at: created / 1000 + 90 });
    assert.deepEqual([c.state, c.system, c.costNano, c.output, c.completedAt, c.error], ['COMPLETED', 'v2', 250_000_000, { summary: 's' }, created + 90_000, null]);
    const f = ok({ status: 'failed', cost_usd: 0.01, output: '{"error":"worker timed out"}' });
    assert.deepEqual([f.state, f.costNano, f.output, f.completedAt], ['FAILED', 10_000_000, null, created]);
    assert.deepEqual(f.error, { code: 'V2_FAILED', message: 'worker timed out', retryable: false });
  });

  it('reports every problem of a malformed row, keyed by execution_id', () => {
    const m = map({ status: 'exploded', input: '{oops', output: 'nope', cost_usd: -2, created_at: 'soon', priority: 'asap', client_id: 'has space' });
    assert.ok(!m.ok);
    assert.equal(m.key, 'e1');
    for (const re of [/status: "exploded"/, /input: not valid JSON/, /output: not valid JSON/, /cost_usd/, /created_at: "soon"/, /priority: "asap"/, /client_id/]) assert.match(m.reason, re);
    const t = mapExecution({ ...base, template_name: 'broken' }, 0, known('sum'));
    assert.ok(!t.ok && /pipeline_templates row "broken" is malformed/.test(t.reason));
    const u = mapExecution({ ...base, template_name: 'nope' }, 0, known('sum'));
    assert.ok(!u.ok && /no template "nope"/.test(u.reason));
    const arr = map({ input: '[1,2]' });
    assert.ok(!arr.ok && /queued work needs a JSON object/.test(arr.reason));
    assert.ok(map({ input: '[1,2]', status: 'completed' }).ok, 'history may keep any JSON input');
    const missing = map({ created_at: null });
    assert.ok(!missing.ok && /created_at: missing/.test(missing.reason));
  });
});

describe('facts and checksums', () => {
  const e = {
    system: 'v2' as const, state: 'COMPLETED' as const, clientId: 'acme', template: 'sum', urgency: 'normal' as const, input: { a: 1, b: [2] }, output: { x: 1 },
    error: null, costNano: 5, createdAt: 1, startedAt: 2, completedAt: 3,
  };

  it('leave out what Allot decides for work it took over', () => {
    const taken = { ...e, system: undefined, state: 'PENDING' as const };
    const later = { ...taken, state: 'COMPLETED' as const, costNano: 99, output: { y: 2 }, completedAt: 50 };
    assert.deepEqual(executionFacts('k', taken), executionFacts('k', later));
    assert.deepEqual(differingFields(executionFacts('k', e), executionFacts('k', { ...e, costNano: 6 })), ['cost_nano']);
  });

  it('does not depend on row order or object key order', () => {
    const a = new Map([['x', { p: 1, q: { r: 2, s: 3 } }], ['y', { p: 2 }]]);
    const b = new Map([['y', { p: 2 }], ['x', { q: { s: 3, r: 2 }, p: 1 }]]);
    assert.equal(checksum(a), checksum(b));
    assert.match(checksum(a), /^[0-9a-f]{64}$/);
    assert.notEqual(checksum(a), checksum(new Map([['x', { p: 1, q: { r: 2, s: 4 } }], ['y', { p: 2 }]])));
  });
});
