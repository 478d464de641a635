/**
 * kill -9 under load, five times, with max_attempts 1. Submissions carry
 * Idempotency-Keys and are retried by the client until acknowledged, as a
 * careful client would. Afterwards: every acknowledged request exists
 * exactly once and completed exactly once, work that was RUNNING at a kill
 * was taken back and finished without using up its one attempt (issue 9:
 * 80 of 1,000 used to end FAILED LEASE_EXPIRED), and spent + held add up to
 * the requests' costs.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sleep } from '../helpers/proc.ts';
import { allAudit, allotFiles, createClient, startAllot, startWorker, text, until, type AllotFiles, type AllotProc, type RunningWorker } from './harness.ts';

const N = 1000;
const KILLS = 5;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('crash recovery: SIGKILL mid-load, five times, one attempt per request', () => {
  let worker: RunningWorker;
  let files: AllotFiles;
  let allot: AllotProc;
  let port: number;
  let client: { id: string; key: string };
  const acked = new Map<number, string>(); // logical request → request id

  before(async () => {
    worker = await startWorker('examples/summarizer/server.ts', ['--delay-ms', '40']);
    files = allotFiles({
      workers: { summarizer: { transport: 'http', url: worker.url, max_concurrency: 16 } },
      // One attempt: a lease lost to Allot's own death must not use it up.
      templates: { summarize: { worker: 'summarizer', model: 'gpt-3.5', max_tokens: 100, timeout_ms: 5_000, max_attempts: 1, retry: { base_delay_ms: 50, max_delay_ms: 500 } } },
    });
    port = await freePort();
    allot = await startAllot(files, { ALLOT_PORT: String(port) });
    client = await createClient(allot, 'crash-client', 'standard');
  });

  after(async () => {
    await allot?.stop();
    await worker?.proc.stop();
  });

  it('loses nothing and completes nothing twice', async () => {
    let stopKilling = false;
    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(400 + Math.floor(Math.random() * 500));
        await allot.stop('SIGKILL');
        allot = await startAllot(files, { ALLOT_PORT: String(port) });
      }
      stopKilling = true;
    })();

    let next = 0;
    const submit = async (): Promise<void> => {
      while (next < N) {
        const i = next++;
        for (let tries = 0; ; tries++) {
          assert.ok(tries < 500, `request ${i} was never acknowledged`);
          try {
            const r = await allot.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', input: { text: text(i) } }, { 'idempotency-key': `crash-${i}` });
            if (r.status === 202 || r.status === 200) {
              const prior = acked.get(i);
              if (prior) assert.equal(r.body.request_id, prior, 'a retried key returns the original request');
              acked.set(i, r.body.request_id);
              break;
            }
            assert.ok(r.status >= 500, `unexpected ${r.status}: ${JSON.stringify(r.body)}`);
          } catch (err) {
            if (!/ECONNREFUSED|ECONNRESET|socket hang up|EPIPE/.test(String(err))) throw err;
          }
          await sleep(20);
        }
        // Spread submissions over the kills.
        if (!stopKilling) await sleep(2);
      }
    };
    await Promise.all(Array.from({ length: 8 }, submit));
    await killer;
    assert.equal(acked.size, N);

    await until(async () => {
      const s = await allot.admin.request<{ requests: Record<string, number> }>('GET', '/status');
      return (s.body.requests.COMPLETED ?? 0) + (s.body.requests.FAILED ?? 0) + (s.body.requests.CANCELLED ?? 0) >= N;
    }, 120_000, 'all requests to finish after the last restart');

    const s = await allot.admin.request<{ requests: Record<string, number> }>('GET', '/status');
    const total = Object.values(s.body.requests).reduce((a, b) => a + b, 0);
    assert.equal(total, N, `exactly one request per idempotency key (states ${JSON.stringify(s.body.requests)})`);
    assert.equal(s.body.requests.COMPLETED, N, `all completed (states ${JSON.stringify(s.body.requests)})`);

    const audit = await allAudit(allot);
    const completions = new Map<string, number>();
    let recovered = 0;
    for (const e of audit) {
      if (e.kind !== 'transition' || !e.request_id) continue;
      if (e.to === 'COMPLETED') completions.set(e.request_id, (completions.get(e.request_id) ?? 0) + 1);
      if (e.data && (e.data as { attempt_counted?: boolean }).attempt_counted === false) recovered++;
    }
    for (const id of acked.values()) assert.equal(completions.get(id), 1, `request ${id} completed exactly once`);
    assert.ok(recovered > 0, 'at least one kill hit a running request, which was taken back without using its attempt');

    let sumNano = 0;
    for (const id of acked.values()) {
      const r = await allot.as(client.key).request<{ cost_usd: number; status: string }>('GET', `/api/execution/${id}`);
      assert.equal(r.body.status, 'COMPLETED');
      sumNano += Math.round(r.body.cost_usd * 1e9);
    }
    const u = await allot.as(client.key).request<{ spent_usd: number; held_usd: number }>('GET', `/api/usage/${client.id}/current`);
    assert.equal(Math.round(u.body.spent_usd * 1e9), sumNano, 'spent equals the sum of costs: nothing charged twice');
    assert.equal(u.body.held_usd, 0, 'every hold was released');
  });
});
