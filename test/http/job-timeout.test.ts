/**
 * Every job Allot sends carries the time it has left (`timeout_ms`) beside
 * `deadline_ms`: over direct HTTP, in a batch call, to a subprocess on stdin,
 * and in a v2 process call (issue 9). Workers time out relative to arrival,
 * so their clocks do not matter.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../sdk/worker/index.ts';
import { NODE } from '../helpers/proc.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

const seen: { via: string; timeoutMs: number | null; deadlineMs: number | null }[] = [];
let direct: HttpWorkerServer;
let legacy: HttpWorkerServer;
let h: Harness;

// A subprocess worker in a few lines of plain Node: it answers with the wire fields it read.
const ECHO_FIELDS = `let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const j=JSON.parse(t);` +
  `process.stdout.write(JSON.stringify({success:true,output:{timeout_ms:j.timeout_ms,deadline_ms:j.deadline_ms},usage:{tokens:{input:0,output:0}}})+'\\n')})`;

before(async () => {
  const capture = (via: string) => defineWorker({
    name: via,
    dedupe: false,
    handler: (job) => {
      seen.push({ via, timeoutMs: job.timeoutMs, deadlineMs: job.deadlineMs });
      return { ok: true };
    },
  });
  direct = await serveHttp(capture('direct'));
  legacy = await serveHttp(capture('v2'), { v2: { orchestratorUrl: 'http://127.0.0.1:1', token: 'v2-token-0123456789', requireToken: false } });
  h = await startHarness({
    workers: {
      direct: { transport: 'http', url: direct.url },
      legacy: { transport: 'v2', url: legacy.url },
      echo: { transport: 'subprocess', command: [NODE, '-e', ECHO_FIELDS] },
    },
    templates: {
      direct: { worker: 'direct', timeout_ms: 7_000 },
      batched: { worker: 'direct', timeout_ms: 7_000, batch: { key: 'k', window_ms: 50, max_size: 10 } },
      legacy: { worker: 'legacy', timeout_ms: 7_000 },
      echo: { worker: 'echo', timeout_ms: 7_000 },
    },
  });
});

after(async () => {
  await h?.close();
  await direct?.close();
  await legacy?.close();
});

const inWindow = (ms: number | null, what: string): void => {
  assert.ok(ms !== null && ms > 5_000 && ms <= 7_000, `${what}: timeout_ms ${ms} is the time left of the template's 7 s`);
};

test('direct, batched and v2 jobs carry timeout_ms: the time left when sent', async () => {
  const c = await h.createClient('standard');
  for (const template of ['direct', 'legacy']) {
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template, input: { k: 'x' } } });
    assert.equal(r.body.status, 'COMPLETED', r.text);
  }
  const batch = await Promise.all([1, 2, 3].map(() => h.call('POST', '/api/execute', { key: c.key, json: { template: 'batched', input: { k: 'same' } } })));
  for (const b of batch) assert.equal(b.body.status, 'COMPLETED', b.text);
  assert.deepEqual(seen.map((s) => s.via), ['direct', 'v2', 'direct', 'direct', 'direct']);
  for (const s of seen) {
    inWindow(s.timeoutMs, s.via);
    // On one machine the clocks agree: the handler's deadline (arrival + time left) is within a second of Allot's.
    assert.ok(s.deadlineMs !== null && Math.abs(s.deadlineMs - (Date.now() + (s.timeoutMs as number))) < 8_000);
  }
});

test('a subprocess job carries timeout_ms and deadline_ms on stdin', async () => {
  const c = await h.createClient('standard');
  const sent = Date.now();
  const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'echo', input: {} } });
  assert.equal(r.body.status, 'COMPLETED', r.text);
  inWindow(r.body.output.timeout_ms, 'subprocess');
  assert.ok(r.body.output.deadline_ms >= sent + 6_000 && r.body.output.deadline_ms <= Date.now() + 7_000, 'deadline_ms is Allot’s clock');
});
