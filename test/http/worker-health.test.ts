/**
 * Worker health probes, transport re-detection and the circuit breaker,
 * through the in-process app with real workers on loopback whose GET /health
 * the test changes as it goes.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { resolveConfig, ConfigError } from '../../src/config/resolve.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';

const V2_HEALTH = { status: 'healthy', service: 'porter', version: '2.0.0', capabilities: { protocol_version: '2.0', supports_handshake: true, supports_references: true } };
const DIRECT_HEALTH = { status: 'healthy', service: 'porter', version: '3.0.0', capabilities: { protocol: 'allot-direct-1', batch: false } };

/** A worker whose GET /health answer is whatever the test sets; POST / answers a standard success. */
interface TestWorker {
  readonly url: string;
  health: { status: number; body: unknown };
  /** Paths of the POSTs it received, in order. */
  readonly posts: string[];
  close(): Promise<void>;
}

async function startTestWorker(health: unknown): Promise<TestWorker> {
  const posts: string[] = [];
  const w = { health: { status: 200, body: health } };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/health') {
        res.writeHead(w.health.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(w.health.body));
        return;
      }
      posts.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: true, output: { via: req.url }, usage: { tokens: { input: 0, output: 0 }, duration: 0 }, metadata: {} }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return Object.assign(w, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let h: Harness;
const workers: TestWorker[] = [];
const THRESHOLD = 3;
const COOLDOWN_MS = 300;

before(async () => {
  // Probes every minute: the tests probe on demand (POST /admin/workers/{name}/probe) instead of waiting.
  h = await startHarness({ worker_health: { interval_ms: 60_000, failure_threshold: THRESHOLD, cooldown_ms: COOLDOWN_MS } });
});

after(async () => {
  await h?.close();
  for (const w of workers) await w.close();
});

async function testWorker(health: unknown): Promise<TestWorker> {
  const w = await startTestWorker(health);
  workers.push(w);
  return w;
}

const probe = async (name: string): Promise<Json> => {
  const r = await h.call('POST', `/admin/workers/${name}/probe`, { key: h.adminKey });
  assert.equal(r.status, 200, r.text);
  return r.body;
};

const getWorker = async (name: string): Promise<Json> => {
  const r = await h.call('GET', `/admin/workers/${name}`, { key: h.adminKey });
  assert.equal(r.status, 200, r.text);
  return r.body.worker;
};

const status = async (id: string, key: string): Promise<string> => (await h.call('GET', `/api/execution/${id}`, { key })).body.status;

describe('transport re-detection', () => {
  test('a worker registered without a transport follows its /health from v2 to direct HTTP, audited as health-probe', async () => {
    const w = await testWorker(V2_HEALTH);
    const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'porter', url: w.url } });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.body.worker.transport, 'v2');
    assert.equal(reg.body.worker.transport_detected, true);
    assert.equal((await h.store.getWorker('porter'))?.transportDetected, true, 'the fact is stored with the worker');

    const same = await probe('porter');
    assert.equal(same.transport, 'v2');
    assert.equal(same.health.status, 'healthy');
    assert.equal(same.health.detected_transport, 'v2');

    // The team ports the worker to the direct protocol.
    w.health.body = DIRECT_HEALTH;
    const ported = await probe('porter');
    assert.equal(ported.transport, 'http');
    assert.equal(ported.transport_detected, true, 'still detected: a later port back is followed too');
    assert.equal(ported.health.detected_transport, 'http');
    assert.equal(ported.health.warning, null);
    assert.equal((await getWorker('porter')).transport, 'http');
    assert.equal((await h.store.getWorker('porter'))?.transport, 'http', 'the switch is durable');

    const audit = await h.call('GET', '/admin/audit?limit=100000', { key: h.adminKey });
    const puts = (audit.body.entries as Json[]).filter((e) => e.data?.action === 'worker:put' && e.data?.name === 'porter');
    assert.deepEqual(puts.map((e) => [e.actor, e.data.transport]), [['admin', 'v2'], ['health-probe', 'http']]);

    // Requests now go over the direct transport: POST to the worker's url, no v2 handshake.
    assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'ported', worker: 'porter', timeout_ms: 5_000 } })).status, 201);
    const c = await h.createClient('standard');
    const done = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'ported', input: {} } });
    assert.equal(done.body.status, 'COMPLETED', done.text);
    assert.deepEqual(w.posts, ['/']);
  });

  test('an explicit "v2" is kept when /health stops claiming v2, with a warning; a patch without a transport keeps "detected"', async () => {
    const w = await testWorker(DIRECT_HEALTH);
    assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'legacy-pinned', transport: 'v2', url: w.url } })).status, 201);
    const p = await probe('legacy-pinned');
    assert.equal(p.transport, 'v2', 'an operator\'s explicit choice is not switched');
    assert.equal(p.transport_detected, false);
    assert.match(p.health.warning, /no longer claims the v2 handshake/);
    w.health.body = V2_HEALTH;
    assert.equal((await probe('legacy-pinned')).health.warning, null);

    const d = await testWorker(DIRECT_HEALTH);
    assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'patched', url: d.url } })).status, 201);
    const patched = await h.call('PATCH', '/admin/workers/patched', { key: h.adminKey, json: { max_concurrency: 2 } });
    assert.equal(patched.body.worker.transport_detected, true);
    const pinned = await h.call('PATCH', '/admin/workers/patched', { key: h.adminKey, json: { transport: 'http' } });
    assert.equal(pinned.body.worker.transport_detected, false, 'giving a transport pins it');
  });
});

describe('circuit breaker', () => {
  test('a worker whose /health keeps failing is taken out of rotation and alerted; its requests wait, then run once it recovers', async () => {
    const w = await testWorker(DIRECT_HEALTH);
    assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'flaky', transport: 'http', url: w.url } })).status, 201);
    assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'flaky-job', worker: 'flaky', timeout_ms: 5_000 } })).status, 201);
    assert.equal((await probe('flaky')).health.status, 'healthy');

    w.health = { status: 503, body: { status: 'unhealthy' } };
    for (let i = 1; i < THRESHOLD; i++) {
      const p = await probe('flaky');
      assert.equal(p.health.consecutive_failures, i);
      assert.equal(p.health.status, 'unhealthy');
      assert.equal(p.health.available, true, `still in rotation after ${i} failure(s)`);
      assert.equal(p.health.breaker, 'closed');
    }
    const tripped = await probe('flaky');
    assert.equal(tripped.health.breaker, 'open');
    assert.equal(tripped.health.available, false);
    assert.match(tripped.health.last_error, /HTTP 503/);
    assert.ok(tripped.health.reopens_at);
    const listed = (await h.call('GET', '/admin/workers', { key: h.adminKey })).body.workers.find((x: Json) => x.name === 'flaky');
    assert.equal(listed.health.breaker, 'open');

    const alerts = (await h.call('GET', '/admin/alerts', { key: h.adminKey })).body.alerts as Json[];
    const alert = alerts.find((a) => a.kind === 'worker_unhealthy' && a.subject === 'flaky');
    assert.ok(alert, JSON.stringify(alerts));
    assert.match(alert.message, /out of rotation/);

    const c = await h.createClient('standard');
    const q = await h.call('POST', '/api/queue/enqueue', { key: c.key, json: { template: 'flaky-job', input: {} } });
    assert.equal(q.status, 202, q.text);
    const id: string = q.body.request_id;
    // Several cool-downs pass; each trial probe still fails, so nothing is sent.
    await sleep(COOLDOWN_MS * 3);
    assert.equal(await status(id, c.key), 'PENDING');
    assert.deepEqual(w.posts, [], 'not dispatched to a worker out of rotation');
    assert.equal((await getWorker('flaky')).health.available, false);

    w.health = { status: 200, body: DIRECT_HEALTH };
    const x = await h.waitTerminal(id, c.key, 5_000);
    assert.equal(x.status, 'COMPLETED', JSON.stringify(x.error));
    assert.deepEqual(w.posts, ['/']);
    const back = await getWorker('flaky');
    assert.equal(back.health.breaker, 'closed');
    assert.equal(back.health.status, 'healthy');
    const cleared = (await h.call('GET', '/admin/alerts', { key: h.adminKey })).body.alerts as Json[];
    assert.ok(!cleared.some((a) => a.kind === 'worker_unhealthy' && a.subject === 'flaky'), 'the alert resolves');
  });

  test('dispatches that cannot reach a worker open its breaker too', async () => {
    const w = await testWorker(DIRECT_HEALTH);
    const url = w.url;
    await w.close(); // Nothing listens there now.
    assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'gone', transport: 'http', url } })).status, 201);
    assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: 'gone-job', worker: 'gone', max_attempts: THRESHOLD, retry: { base_delay_ms: 10, max_delay_ms: 20 } } })).status, 201);
    const c = await h.createClient('standard');
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'gone-job', input: {} } });
    assert.equal(r.body.status, 'FAILED', r.text);
    assert.equal(r.body.error.code, 'WORKER_UNAVAILABLE');
    // The last failure reaches the breaker just after the request is settled.
    const g = await until('the third dispatch failure', async () => {
      const x = await getWorker('gone');
      return x.health.dispatch_failures === THRESHOLD ? x : undefined;
    });
    assert.equal(g.health.breaker, 'open');
    assert.match(g.health.last_error, /^WORKER_UNAVAILABLE/);
    assert.ok(((await h.call('GET', '/admin/alerts', { key: h.adminKey })).body.alerts as Json[]).some((a) => a.kind === 'worker_unhealthy' && a.subject === 'gone'));
  });

  test('a subprocess worker (nothing to probe) trips on timeouts, then gets exactly one trial dispatch after the cool-down', async () => {
    const reg = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'local', transport: 'subprocess', command: ['node', '-e', 'process.exit(0)'] } });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(reg.body.worker.health.status, 'healthy');
    const changes: string[] = [];
    const onBreaker = (worker: string, state: string) => {
      if (worker === 'local') changes.push(state);
    };
    h.deps.events.on('worker:breaker', onBreaker);
    try {
      // Dispatch outcomes as the scheduler reports them on the bus.
      for (let i = 0; i < THRESHOLD; i++) h.deps.events.emit('worker:error', 'local', { code: 'REQUEST_TIMEOUT', message: 'The worker did not answer before the deadline', retryable: true });
      const open = await getWorker('local');
      assert.equal(open.health.breaker, 'open');
      assert.equal(open.health.status, 'unhealthy');
      assert.equal(h.deps.registry.workerAvailable('local'), false);

      await until('the cool-down to end', async () => (changes.includes('half_open') ? true : undefined));
      assert.equal(h.deps.registry.workerAvailable('local'), true, 'the trial');
      assert.equal(h.deps.registry.workerAvailable('local'), false, 'only one trial until its outcome');
      // The worker answered (with an error of its own): it is up.
      h.deps.events.emit('worker:error', 'local', { code: 'BAD_INPUT', message: 'input.text is required', retryable: false });
      assert.equal(h.deps.registry.workerAvailable('local'), true);
      assert.equal((await getWorker('local')).health.breaker, 'closed');
      assert.deepEqual(changes, ['open', 'half_open', 'closed']);
    } finally {
      h.deps.events.off('worker:breaker', onBreaker);
    }
  });

  test('POST /admin/workers/{name}/probe is in the OpenAPI document; an unknown worker is 404', async () => {
    const doc = await h.call('GET', '/openapi.json');
    assert.ok(doc.body.paths['/admin/workers/{name}/probe']?.post);
    assert.ok(doc.body.components.schemas.WorkerHealth);
    const r = await h.call('POST', '/admin/workers/nobody/probe', { key: h.adminKey });
    assert.equal(r.status, 404);
  });
});

test('config: worker_health.timeout_ms must be less than interval_ms', () => {
  const read = () => JSON.stringify({ worker_health: { interval_ms: 1000, timeout_ms: 1000 } });
  assert.throws(() => resolveConfig({ ALLOT_CONFIG: 'x.json' }, read), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.startsWith('worker_health.timeout_ms:')));
  const ok = resolveConfig({ ALLOT_CONFIG: 'x.json' }, () => JSON.stringify({ worker_health: { failure_threshold: 2 } }));
  assert.deepEqual(ok.workerHealth, { intervalMs: 10_000, timeoutMs: 3_000, failureThreshold: 2, cooldownMs: 30_000 });
});

test('a trial timer that fires before the breaker’s clock says the cool-down is over is armed again, not lost', async () => {
  // Allot's clock stands still while real time passes: the cool-down timer (monotonic) fires "early".
  const clock = new FakeClock(Date.now());
  const hh = await startHarness({ worker_health: { interval_ms: 60_000, failure_threshold: 1, cooldown_ms: 200 } }, { clock });
  const w = await testWorker(DIRECT_HEALTH);
  let probes = 0;
  const counting = createServer((req, res) => {
    if (req.url === '/health') probes++;
    res.writeHead(w.health.status, { 'content-type': 'application/json' }).end(JSON.stringify(w.health.body));
  });
  await new Promise<void>((r) => counting.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(counting.address() as AddressInfo).port}`;
    assert.equal((await hh.call('POST', '/admin/workers', { key: hh.adminKey, json: { name: 'slowclock', transport: 'http', url } })).status, 201);
    w.health = { status: 503, body: { status: 'unhealthy' } };
    const tripped = (await hh.call('POST', '/admin/workers/slowclock/probe', { key: hh.adminKey })).body;
    assert.equal(tripped.health.breaker, 'open');
    const seen = probes;
    await sleep(500); // the timer has fired; by Allot's clock the cool-down is not over: no trial yet
    assert.equal(probes, seen, 'no trial while the breaker is cooling down by its own clock');
    w.health = { status: 200, body: DIRECT_HEALTH };
    clock.advance(200);
    await until('the trial probe, once the cool-down is over by the breaker’s clock', async () => ((await hh.call('GET', '/admin/workers/slowclock', { key: hh.adminKey })).body.worker.health.breaker === 'closed' ? true : undefined), 3_000);
    assert.ok(probes > seen);
  } finally {
    await hh.close();
    await new Promise<void>((r) => counting.close(() => r()));
  }
});
