/**
 * Scaled out (two Allot processes on one PostgreSQL schema and Redis
 * prefix), an operator's breaker order given through one instance holds on
 * the other too, and closing it through the other closes it on both; the
 * dashboard's push channel on the instance that did not take the order
 * shows it (and a pause made elsewhere) without being asked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { dropRedisPrefix } from '../helpers/app-backend.ts';
import { ADMIN_KEY, allotFiles, startAllot, startWorker, until, type AllotProc, type RunningWorker } from '../e2e/harness.ts';

const PG_URL = process.env.ALLOT_TEST_PG_URL;
const REDIS_URL = process.env.ALLOT_TEST_REDIS_URL;
const skip = PG_URL && REDIS_URL ? false : 'ALLOT_TEST_PG_URL and ALLOT_TEST_REDIS_URL are needed';

interface Health { breaker: string; held: boolean; available: boolean }
// oxlint-disable-next-line typescript/no-explicit-any -- snapshots are checked field by field
type Snapshot = any;

/** Follow GET /admin/dashboard/events on `url`, keeping every snapshot. */
function followDashboard(url: string): { snapshots: Snapshot[]; close: () => void } {
  const snapshots: Snapshot[] = [];
  let buf = '';
  const req = http.get(new URL('/admin/dashboard/events', url), { headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (/^event: snapshot$/m.test(block)) snapshots.push(JSON.parse(block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')));
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  return { snapshots, close: () => req.destroy() };
}

describe('breaker orders across instances', { skip }, () => {
  const schema = `allot_b_${process.env.ALLOT_TEST_RUN_ID ?? 'x'}_${randomBytes(4).toString('hex')}`;
  const env = { ALLOT_DATABASE_URL: PG_URL ?? '', ALLOT_DATABASE_SCHEMA: schema, ALLOT_REDIS_URL: REDIS_URL ?? '', ALLOT_REDIS_PREFIX: schema };
  let worker: RunningWorker;
  const instances: AllotProc[] = [];

  before(async () => {
    worker = await startWorker('examples/noop/server.ts');
    const made = allotFiles({
      workers: { noop: { transport: 'http', url: worker.url, max_concurrency: 4 } },
      templates: { job: { worker: 'noop', timeout_ms: 3_000 } },
      // Probes often and a short cool-down: a hold that did not hold would be visible within the test.
      worker_health: { interval_ms: 200, timeout_ms: 150, failure_threshold: 2, cooldown_ms: 200 },
      cluster: { leader_lease_ms: 2_000, heartbeat_ms: 500, poll_ms: 300 },
    });
    const files = { ...made, backend: { env, cleanup: async () => {} } };
    instances.push(...(await Promise.all([0, 1].map(() => startAllot(files)))));
  });

  after(async () => {
    for (const a of instances) await a.stop().catch(() => {});
    await worker?.proc.stop();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
    await dropRedisPrefix(schema);
  });

  const health = async (a: AllotProc): Promise<Health> => (await a.admin.request<{ worker: { health: Health } }>('GET', '/admin/workers/noop')).body.worker.health;

  it('opened through A holds on B (past cool-downs and probes); closed through B closes on A; B\'s dashboard is told', async () => {
    const [a, b] = instances as [AllotProc, AllotProc];
    const dash = followDashboard(b.url);
    try {
      await until(async () => dash.snapshots.length > 0, 5_000, "B's first snapshot");
      const r = await a.admin.request<{ health: Health }>('POST', '/admin/workers/noop/breaker', { state: 'open', reason: 'incident' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await until(async () => (await health(b)).held, 3_000, 'B to hold the breaker open');
      await until(async () => dash.snapshots.at(-1)?.workers[0]?.health?.held === true, 3_000, "B's dashboard to be pushed the open breaker");
      // Several cool-downs and probe intervals: still held on both.
      await new Promise((ok) => setTimeout(ok, 1_000));
      for (const x of [a, b]) {
        const h = await health(x);
        assert.deepEqual([h.breaker, h.held, h.available], ['open', true, false]);
      }
      const c = await b.admin.request<{ health: Health }>('POST', '/admin/workers/noop/breaker', { state: 'closed' });
      assert.equal(c.status, 200, JSON.stringify(c.body));
      await until(async () => (await health(a)).breaker === 'closed', 3_000, 'A to close it');
      assert.equal((await health(a)).held, false);

      // A pause through A reaches B's dashboard by push.
      assert.equal((await a.admin.request('POST', '/admin/scheduler/stop')).status, 200);
      await until(async () => dash.snapshots.at(-1)?.scheduler === 'paused', 3_000, "B's dashboard to show the pause");
      assert.equal((await a.admin.request('POST', '/admin/scheduler/start')).status, 200);
      await until(async () => dash.snapshots.at(-1)?.scheduler === 'running', 3_000, "B's dashboard to show the scheduler running");
    } finally {
      dash.close();
    }
  });
});
