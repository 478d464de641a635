/**
 * Allot killed (SIGKILL) while a pull worker holds jobs: the restarted Allot
 * takes those leases back, refuses the results the worker then sends under
 * them (LEASE_LOST, nothing charged or recorded), and gives the jobs out
 * again under new leases; each request completes once, with the second
 * round's output. Real processes, on each backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { allotFiles, createClient, startAllot, type AllotFiles, type AllotProc } from './harness.ts';

const TOKEN = 'pull-restart-token-0001';
let files: AllotFiles;
let allot: AllotProc | undefined;

before(() => {
  files = allotFiles({
    workers: { puller: { transport: 'pull', token: TOKEN } },
    templates: { job: { worker: 'puller', timeout_ms: 30_000 } },
    cluster: { leader_lease_ms: 2_000, heartbeat_ms: 500, poll_ms: 500 },
  });
});

after(async () => {
  await allot?.stop();
  await files.backend.cleanup();
});

type Job = { request_id: string; lease_token: number };

async function poll(url: string, max: number): Promise<Job[]> {
  // Scaled out, the restarted instance schedules once the dead one's leader lease has run out.
  for (let i = 0; i < 50; i++) {
    const r = await fetch(`${url}/internal/jobs/poll`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ worker: 'puller', max_jobs: max, wait_ms: 2_000 }),
    });
    const body = (await r.json()) as { jobs?: Job[] };
    if (r.status === 200 && body.jobs && body.jobs.length > 0) return body.jobs;
    await sleep(200);
  }
  throw new Error('no jobs given out');
}

async function send(url: string, jobs: Job[], output: unknown): Promise<{ accepted: boolean; error?: { code: string } }[]> {
  // Scaled out, while no instance schedules yet (the dead one's leader lease runs out first) the answer is 503: try again.
  for (let i = 0; ; i++) {
    const r = await fetch(`${url}/internal/jobs/results`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ results: jobs.map((j) => ({ request_id: j.request_id, lease_token: j.lease_token, success: true, output, usage: { tokens: { input: 0, output: 5 }, resources: {}, duration: 1 } })) }),
    });
    if (r.status === 503 && i < 50) {
      assert.ok(r.headers.get('retry-after'), 'told when to come back');
      await sleep(200);
      continue;
    }
    assert.equal(r.status, 200);
    return ((await r.json()) as { results: { accepted: boolean; error?: { code: string } }[] }).results;
  }
}

test('results sent under leases from before the crash are refused; the jobs run again and each completes once', async () => {
  const a = await startAllot(files);
  allot = a;
  const client = await createClient(a, 'pulling', 'standard');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await a.as(client.key).request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'job', input: { i } });
    assert.equal(r.status, 202);
    ids.push(r.body.request_id);
  }
  const first = await poll(a.url, 5);
  assert.deepEqual(first.map((j) => j.request_id).toSorted(), ids.toSorted());

  await a.stop('SIGKILL');
  const b = await startAllot(files);
  allot = b;

  const stale = await send(b.url, first, { round: 1 });
  assert.deepEqual(stale.map((r) => r.accepted), [false, false, false, false, false]);
  for (const r of stale) assert.equal(r.error?.code, 'LEASE_LOST');

  const again: Job[] = [];
  while (again.length < 5) again.push(...(await poll(b.url, 5 - again.length)));
  assert.deepEqual(again.map((j) => j.request_id).toSorted(), ids.toSorted(), 'the same requests');
  for (const j of again) {
    const old = first.find((x) => x.request_id === j.request_id) as Job;
    assert.ok(j.lease_token > old.lease_token, 'under new leases');
  }
  assert.deepEqual((await send(b.url, again, { round: 2 })).map((r) => r.accepted), [true, true, true, true, true]);
  const viewer = b.as(client.key);
  for (const id of ids) {
    const r = await viewer.request<{ status: string; output: unknown; usage: { tokens: { output: number } } }>('GET', `/api/execution/${id}`);
    assert.equal(r.body.status, 'COMPLETED');
    assert.deepEqual(r.body.output, { round: 2 });
    assert.equal(r.body.usage.tokens.output, 5, 'counted once');
  }
});
