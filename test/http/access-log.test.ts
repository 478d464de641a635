/**
 * One access-log line per request (issue 13, item 6): its request id (the
 * caller's X-Request-Id when it is a plain token, else one made here, and
 * answered as X-Request-Id either way), method, path, status and latency;
 * errors included. And the log's two formats: JSON with the level by name
 * and ISO times, or readable lines, chosen by ALLOT_LOG_FORMAT (on a
 * terminal, readable by default).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startHarness, type Harness } from '../helpers/app-harness.ts';
import { nodeLogger } from '../../src/boot.ts';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';

const lines: Record<string, unknown>[] = [];
let h: Harness;

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  h = await startHarness({}, { logger: pino({ level: 'info' }, sink) });
});

after(async () => {
  await h?.close();
});

const access = (): Record<string, unknown>[] => lines.filter((l) => l.log === 'access');

test('each request leaves one line with its id, method, path, status and latency; the id is answered', async () => {
  const seen = access().length;
  const r = await h.app.request('/health');
  assert.equal(r.status, 200);
  const id = r.headers.get('x-request-id') ?? '';
  assert.match(id, /^[0-9a-f-]{36}$/);
  const bad = await h.app.request('/api/executions', { headers: { 'x-request-id': 'trace-42.a:b' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('x-request-id'), 'trace-42.a:b', "the caller's id is kept");
  const odd = await h.app.request('/nope', { headers: { 'x-request-id': 'has spaces and "quotes"' } });
  assert.match(odd.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'an id that is not a plain token is replaced');
  const mine = access().slice(seen);
  assert.equal(mine.length, 3, JSON.stringify(mine));
  assert.deepEqual(mine.map((l) => [l.req_id === id || l.req_id === 'trace-42.a:b' || l.req_id === odd.headers.get('x-request-id'), l.method, l.path, l.status]), [
    [true, 'GET', '/health', 200], [true, 'GET', '/api/executions', 401], [true, 'GET', '/nope', 404],
  ]);
  for (const l of mine) assert.ok(typeof l.ms === 'number' && l.ms >= 0, JSON.stringify(l));
  assert.equal(mine[0]?.msg, `GET /health 200 ${String(mine[0]?.ms)} ms`);
});

test('JSON logs name the level and give ISO times; ALLOT_LOG_FORMAT picks pretty or json and refuses anything else', () => {
  const out: string[] = [];
  const into = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk.toString('utf8'));
      done();
    },
  });
  nodeLogger({ logLevel: 'info', logFormat: 'json' }, into).info({ a: 1 }, 'hello');
  nodeLogger({ logLevel: 'info', logFormat: 'pretty' }, into).info({ a: 1 }, 'hello');
  const json = JSON.parse(out.find((s) => s.startsWith('{')) ?? '{}') as { level: string; time: string; msg: string };
  assert.equal(json.level, 'info');
  assert.match(json.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(json.msg, 'hello');
  assert.ok(out.some((s) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello/.test(s)), `a readable line: ${JSON.stringify(out)}`);
  assert.equal(resolveConfig({ ALLOT_LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  assert.equal(resolveConfig({}).logFormat, undefined);
  assert.throws(() => resolveConfig({ ALLOT_LOG_FORMAT: 'xml' }), (e: unknown) => e instanceof ConfigError && /ALLOT_LOG_FORMAT: expected json or pretty, got "xml"/.test(e.message));
});
