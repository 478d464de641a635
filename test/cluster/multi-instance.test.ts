/**
 * Three Allot instances as separate processes on one PostgreSQL schema and
 * one Redis prefix (the scale-out mode): each serves the whole API, one
 * schedules, and when it is killed (SIGKILL) another takes over and the
 * work it had started is taken back and finished.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { dropRedisPrefix } from '../helpers/app-backend.ts';
import { readEvents } from '../helpers/sse.ts';
import { allotFiles, createClient, startAllot, startWorker, until, type AllotProc, type RunningWorker } from '../e2e/harness.ts';

const PG_URL = process.env.ALLOT_TEST_PG_URL;
const REDIS_URL = process.env.ALLOT_TEST_REDIS_URL;
const skip = PG_URL && REDIS_URL ? false : 'ALLOT_TEST_PG_URL and ALLOT_TEST_REDIS_URL are needed';

interface Status {
  instance: { id: string; leader: boolean; instances?: { id: string; alive: boolean }[] };
}

describe('three instances on PostgreSQL and Redis', { skip }, () => {
  const schema = `allot_m_${process.env.ALLOT_TEST_RUN_ID ?? 'x'}_${randomBytes(4).toString('hex')}`;
  const env = { ALLOT_DATABASE_URL: PG_URL ?? '', ALLOT_DATABASE_SCHEMA: schema, ALLOT_REDIS_URL: REDIS_URL ?? '', ALLOT_REDIS_PREFIX: schema };
  let worker: RunningWorker;
  const instances: AllotProc[] = [];
  let files: ReturnType<typeof allotFiles>;

  const leaderOf = async (list: AllotProc[]): Promise<AllotProc | undefined> => {
    for (const a of list) {
      const s = await a.admin.request<Status>('GET', '/status');
      if (s.body.instance.leader) return a;
    }
    return undefined;
  };

  /** What the alert webhook received. */
  const hooked: { event: string; kind: string; subject: string }[] = [];
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (x: Buffer) => chunks.push(x));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alert: { kind: string; subject: string } };
      hooked.push({ event: String(req.headers['x-allot-event']), kind: body.alert.kind, subject: body.alert.subject });
      res.writeHead(204).end();
    });
  });

  before(async () => {
    worker = await startWorker('examples/noop/server.ts');
    await new Promise<void>((ok) => hook.listen(0, '127.0.0.1', ok));
    const made = allotFiles({
      // Nothing listens on port 9: every instance's probes take it out of rotation, and an alert fires.
      workers: {
        noop: { transport: 'http', url: worker.url, max_concurrency: 16 }, gone: { transport: 'http', url: 'http://127.0.0.1:9/' },
        puller: { transport: 'pull', token: 'multi-pull-token-0001' },
      },
      templates: { job: { worker: 'noop', timeout_ms: 3_000, max_attempts: 2 }, pulled: { worker: 'puller', timeout_ms: 10_000 } },
      worker_health: { interval_ms: 200, timeout_ms: 100, failure_threshold: 2 },
      alerts: { interval_ms: 250, webhook_url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
      scheduler: { lease_grace_ms: 500, reaper_interval_ms: 200 },
      cluster: { leader_lease_ms: 2_000, heartbeat_ms: 500, poll_ms: 300 },
    });
    // This suite's own schema and prefix, whatever backend the app suites run on.
    files = { ...made, backend: { env, cleanup: async () => {} } };
    // Started together: the migrations run under their lock, once.
    instances.push(...(await Promise.all([0, 1, 2].map(() => startAllot(files)))));
  });

  after(async () => {
    for (const a of instances) await a.stop().catch(() => {});
    await worker?.proc.stop();
    hook.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
    await dropRedisPrefix(schema);
  });

  it('elects exactly one scheduler; every instance lists the three', async () => {
    await until(async () => (await leaderOf(instances)) !== undefined, 5_000, 'a leader');
    let leaders = 0;
    for (const a of instances) {
      const s = await a.admin.request<Status>('GET', '/status');
      if (s.body.instance.leader) leaders++;
      assert.equal(s.body.instance.instances?.filter((i) => i.alive).length, 3, JSON.stringify(s.body.instance));
    }
    assert.equal(leaders, 1);
  });

  it('an alert is shared: the webhook hears of a dead worker once, not once per instance, and every instance lists it', async () => {
    const fired = (): typeof hooked => hooked.filter((x) => x.event === 'alert.firing' && x.kind === 'worker_unhealthy' && x.subject === 'gone');
    await until(async () => fired().length > 0, 5_000, 'the alert to fire');
    await sleep(1_500); // six more checks on each instance
    assert.equal(fired().length, 1, JSON.stringify(hooked));
    for (const a of instances) {
      const r = await a.admin.request<{ alerts: { kind: string; subject: string }[] }>('GET', '/admin/alerts');
      assert.deepEqual(r.body.alerts.filter((x) => x.kind === 'worker_unhealthy').map((x) => x.subject), ['gone'], JSON.stringify(r.body));
    }
  });

  it('submit on A, follow on B, cancel on C; a client created on A is known to C', async () => {
    // B and C are not the scheduler: what they show and do goes through the shared store and the bus.
    const leader = (await leaderOf(instances)) as AllotProc;
    const [b, c] = instances.filter((x) => x !== leader) as [AllotProc, AllotProc];
    const a = leader;
    const client = await createClient(a, 'spread', 'standard');
    // Admin changes reach the others within a poll interval.
    await until(async () => (await c.as(client.key).request('GET', '/api/executions')).status === 200, 3_000, 'C to know the client');
    const sub = await a.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'job', input: { sleep_ms: 2_500 } });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const id = sub.body.request_id;
    await until(async () => (await b.as(client.key).request<{ status: string }>('GET', `/api/execution/${id}`)).body.status === 'RUNNING', 5_000, 'B to see it running');
    const cancel = await c.as(client.key).request<{ status: string }>('POST', `/api/execution/${id}/cancel`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    for (const x of instances) assert.equal((await x.as(client.key).request<{ status: string }>('GET', `/api/execution/${id}`)).body.status, 'CANCELLED');
    // A waiter on an instance that does not schedule hears of the request the leader finished.
    const exec = await b.as(client.key).request<{ status: string }>('POST', '/api/execute', { template: 'job', input: {} });
    assert.equal(exec.body.status, 'COMPLETED', JSON.stringify(exec.body));
  });

  it('admin changes made on one instance take effect on the others within a second: keys, tiers, resources, pools', async () => {
    const leader = (await leaderOf(instances)) as AllotProc;
    const [b, c] = instances.filter((x) => x !== leader) as [AllotProc, AllotProc];
    const within = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
      const t0 = performance.now();
      await until(ok, 1_000, what);
      assert.ok(performance.now() - t0 <= 1_000, `${what}: ${Math.round(performance.now() - t0)} ms`);
    };
    const client = await createClient(leader, 'keys', 'standard');
    await within('the client on C', async () => (await c.as(client.key).request('GET', '/api/executions')).status === 200);
    await within('the client on B', async () => (await b.as(client.key).request('GET', '/api/executions')).status === 200);
    const key2 = await b.admin.request<{ api_key: string }>('POST', `/admin/clients/${client.id}/keys`);
    assert.equal(key2.status, 201, JSON.stringify(key2.body));
    await within('a key issued on B, accepted by C', async () => (await c.as(key2.body.api_key).request('GET', '/api/executions')).status === 200);

    assert.equal((await c.admin.request('PATCH', '/admin/tiers/basic', { priority_points: 13 })).status, 200);
    await within('a tier changed on C, seen by the leader', async () =>
      (await leader.admin.request<{ tiers: { name: string; priority_points: number }[] }>('GET', '/admin/tiers')).body.tiers.find((t) => t.name === 'basic')?.priority_points === 13);

    type Resources = { resources: { name: string; capacity: number; pools: { name: string }[] | null }[] };
    const resource = async (a: AllotProc, name: string) => (await a.admin.request<Resources>('GET', '/admin/resources')).body.resources.find((r) => r.name === name);
    assert.equal((await leader.admin.request('PATCH', '/admin/resources/sms', { capacity: 600 })).status, 200);
    await within('a capacity changed on the leader, seen by B', async () => (await resource(b, 'sms'))?.capacity === 600);
    const pools = await b.admin.request('PUT', '/admin/resources/email/pools', { pools: [{ name: 'vip', kind: 'reserved', tier: 'premium', share: 0.2 }] });
    assert.equal(pools.status, 200, JSON.stringify(pools.body));
    await within('a pool set on B, seen by C', async () => JSON.stringify((await resource(c, 'email'))?.pools ?? []).includes('"vip"'));
  });

  it('the scheduler stopped on a follower stops on the leader; started again, it runs', async () => {
    const leader = (await leaderOf(instances)) as AllotProc;
    const follower = instances.find((x) => x !== leader) as AllotProc;
    const scheduler = async (a: AllotProc): Promise<string> => (await a.admin.request<{ scheduler: string }>('GET', '/status')).body.scheduler;
    assert.equal((await follower.admin.request('POST', '/admin/scheduler/stop')).status, 200);
    await until(async () => (await scheduler(leader)) === 'paused', 2_000, 'the leader to pause');
    const client = await createClient(follower, 'paused', 'standard');
    await until(async () => (await leader.as(client.key).request('GET', '/api/executions')).status === 200, 3_000, 'the client everywhere');
    const sub = await follower.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'job', input: {} });
    await sleep(500);
    assert.equal((await leader.as(client.key).request<{ status: string }>('GET', `/api/execution/${sub.body.request_id}`)).body.status, 'PENDING', 'nothing runs while stopped');
    assert.equal((await follower.admin.request('POST', '/admin/scheduler/start')).status, 200);
    await until(async () => (await leader.as(client.key).request<{ status: string }>('GET', `/api/execution/${sub.body.request_id}`)).body.status === 'COMPLETED', 5_000, 'it to run once started');
  });

  it('progress reported to one instance and fetched references from another; the SSE stream on a third sees it all', async () => {
    const leader = (await leaderOf(instances)) as AllotProc;
    const [b, c] = instances.filter((x) => x !== leader) as [AllotProc, AllotProc];
    // A direct worker that reports its progress to B, not to the instance that sent it the job (as behind a load balancer).
    const reported: number[] = [];
    const reporter = createServer((req, res) => {
      if (req.method !== 'POST') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"healthy"}'); // health probes
      const chunks: Buffer[] = [];
      req.on('data', (x: Buffer) => chunks.push(x));
      req.on('end', async () => {
        const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { progress?: { url: string; token: string } };
        assert.ok(job.progress, 'the job carries a progress url and token');
        const onB = new URL(new URL(job.progress.url).pathname, b.url);
        for (const percent of [30, 60]) {
          const r = await fetch(onB, { method: 'POST', headers: { authorization: `Bearer ${job.progress.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ progress: percent, message: `step ${percent}` }) });
          reported.push(r.status === 200 ? percent : -r.status);
          await sleep(300);
        }
        const body = JSON.stringify({ success: true, output: { done: true }, usage: { tokens: { input: 1, output: 1 }, resources: {}, duration: 1 }, metadata: {} });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
    });
    await new Promise<void>((ok) => reporter.listen(0, '127.0.0.1', ok));
    // A legacy v2 worker that fetches its input by reference from C.
    const legacy = await startWorker('examples/v2-legacy/server.ts', ['--orchestrator', c.url, '--token', 'legacy-token-000000001', '--name', 'legacy']);
    try {
      const reporterUrl = `http://127.0.0.1:${(reporter.address() as AddressInfo).port}/`;
      const admin = async (path: string, body: unknown): Promise<void> => {
        const r = await leader.admin.request('POST', path, body);
        assert.equal(r.status, 201, JSON.stringify(r.body));
      };
      await admin('/admin/workers', { name: 'reporter', transport: 'http', url: reporterUrl });
      await admin('/admin/workers', { name: 'legacy', transport: 'v2', url: legacy.url, token: 'legacy-token-000000001' });
      await admin('/admin/templates', { name: 'reported', worker: 'reporter', timeout_ms: 10_000 });
      await admin('/admin/templates', { name: 'legacy-words', worker: 'legacy', timeout_ms: 10_000 });
      const client = await createClient(leader, 'watcher', 'standard');
      await until(async () => (await c.as(client.key).request('GET', '/api/executions')).status === 200, 3_000, 'C to know the client');

      // Submitted on B, which hears of the new client and template within a moment (until then: 401, or 400 naming the template).
      const submit = () => b.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'reported', input: {} });
      let sub = await submit();
      const unknown = (status: number): boolean => status === 400 || status === 401;
      await until(async () => {
        if (unknown(sub.status)) sub = await submit();
        return !unknown(sub.status);
      }, 3_000, 'B to know the client and the template');
      assert.equal(sub.status, 202, JSON.stringify(sub.body));
      const stream = await fetch(`${c.url}/api/execution/${sub.body.request_id}/events`, { headers: { authorization: `Bearer ${client.key}` }, signal: AbortSignal.timeout(15_000) });
      assert.equal(stream.status, 200);
      const events = await readEvents(stream);
      assert.deepEqual(reported, [30, 60], 'B accepted the progress token the leader issued');
      assert.deepEqual(events.filter((e) => e.event === 'progress').map((e) => e.data.percent), [30, 60], JSON.stringify(events));
      assert.equal(events.at(-1)?.event, 'end');
      assert.equal(events.at(-1)?.data.status, 'COMPLETED');
      assert.deepEqual(events.at(-1)?.data.output, { done: true });

      // Over 1 KiB: the leader passes it by reference, and the worker reads it from C.
      const text = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
      const done = await c.as(client.key).request<{ status: string; output: { words: number } }>('POST', '/api/execute', { template: 'legacy-words', input: { text } });
      assert.equal(done.body.status, 'COMPLETED', JSON.stringify(done.body));
      assert.equal(done.body.output.words, 400);
      const stats = (await (await fetch(`${legacy.url}stats`)).json()) as { fetchedRefs: number };
      assert.ok(stats.fetchedRefs >= 1, `the worker fetched its input by reference from C (${JSON.stringify(stats)})`);
    } finally {
      reporter.close();
      await legacy.proc.stop();
    }
  });

  it('a pull worker may poll any instance: a follower sends it to the one that schedules, and takes its results there too', async () => {
    const leader = (await leaderOf(instances)) as AllotProc;
    const [b, c] = instances.filter((x) => x !== leader) as [AllotProc, AllotProc];
    const client = await createClient(leader, 'pulling', 'standard');
    await until(async () => (await b.as(client.key).request('GET', '/api/executions')).status === 200, 3_000, 'B to know the client');
    const sub = await b.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'pulled', input: { x: 1 } });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const call = async (on: AllotProc, path: string, body: unknown): Promise<{ status: number; body: { jobs?: { request_id: string; lease_token: number }[]; results?: { accepted: boolean }[] } }> => {
      const r = await fetch(`${on.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer multi-pull-token-0001', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as never };
    };
    const polled = await call(b, '/internal/jobs/poll', { worker: 'puller', max_jobs: 5, wait_ms: 3_000 });
    assert.equal(polled.status, 200, JSON.stringify(polled.body));
    assert.deepEqual(polled.body.jobs?.map((j) => j.request_id), [sub.body.request_id], 'given out through B');
    const job = polled.body.jobs?.[0] as { request_id: string; lease_token: number };
    const sent = await call(c, '/internal/jobs/results', { results: [{ request_id: job.request_id, lease_token: job.lease_token, success: true, output: { via: 'C' } }] });
    assert.deepEqual(sent.body.results?.map((r) => r.accepted), [true], 'taken through C');
    await until(async () => (await c.as(client.key).request<{ status: string }>('GET', `/api/execution/${job.request_id}`)).body.status === 'COMPLETED', 3_000, 'completed');
  });

  it('the leader killed with SIGKILL: another takes over within the lease and finishes its work', async () => {
    const leader = (await leaderOf(instances)) as AllotProc;
    const rest = instances.filter((x) => x !== leader);
    const client = await createClient(rest[0] as AllotProc, 'survivor', 'standard');
    await until(async () => (await (rest[1] as AllotProc).as(client.key).request('GET', '/api/executions')).status === 200, 3_000, 'the client everywhere');
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const via = instances[i % 3] as AllotProc;
      const r = await via.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'job', input: { sleep_ms: 1_500 } }, { 'Idempotency-Key': `k${i}` });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids.push(r.body.request_id);
    }
    await sleep(300); // some are running on the leader now
    const killedAt = performance.now();
    await leader.stop('SIGKILL');
    instances.splice(instances.indexOf(leader), 1);
    await until(async () => (await leaderOf(rest)) !== undefined, 6_000, 'a new leader');
    const tookOver = performance.now() - killedAt;
    assert.ok(tookOver < 2_000 + 2 * 500 + 1_000, `took over after ${Math.round(tookOver)} ms (lease 2000 ms)`);
    const viewer = (rest[0] as AllotProc).as(client.key);
    await until(async () => {
      const states = await Promise.all(ids.map(async (id) => (await viewer.request<{ status: string }>('GET', `/api/execution/${id}`)).body.status));
      return states.every((s) => s === 'COMPLETED');
    }, 30_000, 'every request to complete');
  });
});
