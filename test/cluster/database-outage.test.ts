/**
 * PostgreSQL out of reach under load (a TCP proxy in front of the real
 * server is taken down for two seconds, which closes every connection and
 * refuses new ones): submissions get 503 with Retry-After while it is down,
 * nothing acknowledged is lost, and Allot resumes by itself (the scheduler's
 * lease lapses and is taken again) once the database is back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { dropRedisPrefix } from '../helpers/app-backend.ts';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { allotFiles, createClient, startAllot, startWorker, until, type AllotProc, type RunningWorker } from '../e2e/harness.ts';

const PG_URL = process.env.ALLOT_TEST_PG_URL;
const REDIS_URL = process.env.ALLOT_TEST_REDIS_URL;
const skip = PG_URL && REDIS_URL ? false : 'ALLOT_TEST_PG_URL and ALLOT_TEST_REDIS_URL are needed';

describe('PostgreSQL restarting under load', { skip }, () => {
  const schema = `allot_o_${process.env.ALLOT_TEST_RUN_ID ?? 'x'}_${randomBytes(4).toString('hex')}`;
  let proxy: TcpProxy;
  let worker: RunningWorker;
  let allot: AllotProc;

  before(async () => {
    const target = new URL(PG_URL as string);
    proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
    const via = new URL(PG_URL as string);
    via.hostname = '127.0.0.1';
    via.port = String(proxy.port);
    worker = await startWorker('examples/noop/server.ts');
    const made = allotFiles({
      workers: { noop: { transport: 'http', url: worker.url, max_concurrency: 16 } },
      // A request whose claim or answer was lost with the database is taken back when its lease (2.5 s) runs out.
      templates: { job: { worker: 'noop', timeout_ms: 2_000 } },
      scheduler: { lease_grace_ms: 500, reaper_interval_ms: 250 },
      cluster: { leader_lease_ms: 2_000, heartbeat_ms: 500, poll_ms: 500 },
    });
    const env = { ALLOT_DATABASE_URL: via.toString(), ALLOT_DATABASE_SCHEMA: schema, ALLOT_REDIS_URL: REDIS_URL as string, ALLOT_REDIS_PREFIX: schema };
    allot = await startAllot({ ...made, backend: { env, cleanup: async () => {} } });
  });

  after(async () => {
    await allot?.stop().catch(() => {});
    await worker?.proc.stop();
    await proxy?.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
    await dropRedisPrefix(schema);
  });

  it('503 with Retry-After while it is down; every accepted request completes once, and it resumes by itself', async () => {
    const client = await createClient(allot, 'outage', 'standard');
    const submit = async (key: string): Promise<{ status: number; id?: string; retryAfter: string | null }> => {
      const r = await fetch(`${allot.url}/api/queue/enqueue`, {
        signal: AbortSignal.timeout(20_000),
        method: 'POST', headers: { authorization: `Bearer ${client.key}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ template: 'job', input: { sleep_ms: 20 } }),
      });
      const body = (await r.json()) as { request_id?: string; error?: { code: string; details?: { unavailable?: string } } };
      if (r.status === 503) assert.deepEqual([body.error?.code, body.error?.details?.unavailable], ['QUEUE_BACKUP', 'postgres'], JSON.stringify(body));
      return { status: r.status, ...(body.request_id ? { id: body.request_id } : {}), retryAfter: r.headers.get('retry-after') };
    };
    const accepted = new Map<string, string>();
    const refused: string[] = [];
    const other: string[] = [];
    let n = 0;
    // Down from 1.5 s to 3.5 s, on timers of its own (a submission may be waiting on the database meanwhile).
    const outage = (async () => {
      await sleep(1_500);
      await proxy.down();
      await sleep(2_000);
      await proxy.up();
    })();
    const t0 = performance.now();
    while (performance.now() - t0 < 6_000) {
      const key = `k${n++}`;
      const r = await submit(key);
      if ((r.status === 202 || r.status === 200) && r.id) accepted.set(key, r.id);
      else if (r.status === 503) {
        assert.ok(r.retryAfter && Number(r.retryAfter) >= 1, `503 without Retry-After for ${key}`);
        refused.push(key);
      } else other.push(`${key}: ${r.status}`);
      await sleep(10);
    }
    await outage;
    assert.deepEqual(other, [], 'only 202 or 503 answers');
    assert.ok(refused.length > 0, 'some submissions were refused while the database was down');
    // The refused ones again, with the same keys: accepted now (or found, if the first try had committed after all).
    for (const key of refused) {
      let r = await submit(key);
      for (let i = 0; i < 50 && r.status === 503; i++) {
        await sleep(200);
        r = await submit(key);
      }
      assert.ok(r.id && (r.status === 202 || r.status === 200), `${key} after the outage: ${r.status}`);
      accepted.set(key, r.id);
    }
    assert.equal(new Set(accepted.values()).size, accepted.size, 'one request per idempotency key');
    const viewer = allot.as(client.key);
    await until(async () => {
      for (const id of accepted.values()) {
        const s = (await viewer.request<{ status: string }>('GET', `/api/execution/${id}`)).body.status;
        if (s !== 'COMPLETED') return false;
      }
      return true;
    }, 60_000, `all ${accepted.size} accepted requests to complete`);
    const admin = await allot.admin.request<{ requests: Record<string, number> }>('GET', '/status');
    assert.equal(admin.body.requests.COMPLETED, accepted.size, 'completed once each, nothing more');
  });
});
