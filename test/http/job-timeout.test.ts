/**
 * Every job Allot sends carries the time it has left (`timeout_ms`) beside
 * `deadline_ms`: over direct HTTP, in a batch call, to a pipeline stage, to a
 * subprocess on stdin, and in a v2 process call (issue 9). Workers time out
 * relative to arrival, so their clocks do not matter.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { defineWorker, serveHttp, type HttpWorkerServer } from '../../packages/worker/src/index.ts';
import { NODE } from '../helpers/proc.ts';
import { startHarness, type Harness } from '../helpers/app-harness.ts';

const seen: { via: string; timeoutMs: number | null; deadlineMs: number | null }[] = [];
let direct: HttpWorkerServer;
let legacy: HttpWorkerServer;
let h: Harness;

/** A job body as a worker received it, and this machine's clock when it did. */
interface Received {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

/**
 * A bare node:http worker that records the bodies it receives, so the test
 * reads the wire itself and not the SDK's view of it. It answers the direct
 * protocol (one job or a batch) and, on /api/*, just enough of v2's.
 */
async function rawWorker(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const json = (res: ServerResponse, v: unknown): void => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v));
  };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const path = req.url ?? '/';
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const ok = { success: true, output: { ok: true }, usage: { tokens: { input: 0, output: 0 } } };
      if (req.method !== 'POST') return json(res, { status: 'healthy' });
      if (path === '/api/handshake') return json(res, { success: true, packet_id: body.packet_id, status: 'ready' });
      if (path === '/api/acknowledge') return json(res, { success: true, packet_id: body.packet_id, acknowledged: true });
      received.push({ path, body, at });
      if (path === '/api/process') return json(res, { success: true, packet_id: body.packet_id, output_ref: { storage_type: 'inline', inline_data: { ok: true } }, metrics: { tokens_used: 0 } });
      if (Array.isArray(body.batch)) return json(res, { success: true, results: body.batch.map(() => ok) });
      json(res, ok);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

let raw: Awaited<ReturnType<typeof rawWorker>>;

// A subprocess worker in a few lines of plain Node: it answers with the wire fields it read.
const ECHO_FIELDS = `let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const j=JSON.parse(t);` +
  `process.stdout.write(JSON.stringify({success:true,output:{timeout_ms:j.timeout_ms,deadline_ms:j.deadline_ms,at:Date.now()},usage:{tokens:{input:0,output:0}}})+'\\n')})`;

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
  raw = await rawWorker();
  h = await startHarness({
    workers: {
      direct: { transport: 'http', url: direct.url },
      legacy: { transport: 'v2', url: legacy.url },
      echo: { transport: 'subprocess', command: [NODE, '-e', ECHO_FIELDS] },
      raw: { transport: 'http', url: `${raw.url}/job` },
      'raw-v2': { transport: 'v2', url: raw.url },
    },
    templates: {
      direct: { worker: 'direct', timeout_ms: 7_000 },
      batched: { worker: 'direct', timeout_ms: 7_000, batch: { key: 'k', window_ms: 50, max_size: 10 } },
      legacy: { worker: 'legacy', timeout_ms: 7_000 },
      echo: { worker: 'echo', timeout_ms: 7_000 },
      'raw-direct': { worker: 'raw', timeout_ms: 7_000 },
      'raw-batched': { worker: 'raw', timeout_ms: 7_000, batch: { key: 'k', window_ms: 200, max_size: 10 } },
      'raw-v2': { worker: 'raw-v2', timeout_ms: 7_000 },
      'raw-piped': { stages: [{ worker: 'raw' }, { worker: 'raw', timeout_ms: 2_000 }], timeout_ms: 7_000 },
    },
  });
});

after(async () => {
  await h?.close();
  await direct?.close();
  await legacy?.close();
  await new Promise<void>((resolve) => raw?.server.close(() => resolve()));
});

const inWindow = (ms: number | null, what: string): void => {
  assert.ok(ms !== null && ms > 5_000 && ms <= 7_000, `${what}: timeout_ms ${ms} is the time left of the template's 7 s`);
};

/**
 * The wire's time fields: `timeout_ms` an integer in (limit − 2 s, limit], and
 * `deadline_ms − timeout_ms` (when it was sent, on Allot's clock) just before
 * the worker received it, on this machine's clock shifted by `skewMs`.
 */
function checkWire(r: Received, limitMs: number, what: string, skewMs = 0): void {
  const { timeout_ms: timeout, deadline_ms: deadline } = r.body as { timeout_ms: unknown; deadline_ms: unknown };
  assert.ok(Number.isInteger(timeout), `${what}: timeout_ms ${String(timeout)} is an integer`);
  assert.ok(typeof deadline === 'number', `${what}: deadline_ms is sent`);
  const t = timeout as number;
  assert.ok(t > limitMs - 2_000 && t <= limitMs, `${what}: timeout_ms ${t} is what was left of ${limitMs} ms`);
  const sentAt = deadline - t;
  const receivedAt = r.at + skewMs;
  assert.ok(sentAt <= receivedAt + 1 && sentAt > receivedAt - 1_000, `${what}: sent at ${sentAt} (deadline_ms − timeout_ms), received at ${receivedAt} on Allot's clock`);
}

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
  const o = r.body.output as { timeout_ms: number; deadline_ms: number; at: number };
  inWindow(o.timeout_ms, 'subprocess');
  assert.ok(o.deadline_ms >= sent + 6_000 && o.deadline_ms <= Date.now() + 7_000, 'deadline_ms is Allot’s clock');
  checkWire({ path: 'stdin', body: o, at: o.at }, 7_000, 'subprocess');
});

test('on the wire: a direct job, each job of a batch, each pipeline stage and a v2 process call carry an integer timeout_ms and deadline_ms', async () => {
  raw.received.length = 0;
  const c = await h.createClient('standard');
  const one = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'raw-direct', input: {} } });
  assert.equal(one.body.status, 'COMPLETED', one.text);
  // Admitted 60 ms apart into one batch call: each job says its own time left.
  const batch = [];
  for (let i = 0; i < 3; i++) {
    batch.push(h.call('POST', '/api/execute', { key: c.key, json: { template: 'raw-batched', input: { k: 'same' } } }));
    await new Promise((r) => setTimeout(r, 60));
  }
  for (const b of await Promise.all(batch)) assert.equal(b.body.status, 'COMPLETED', b.text);
  const piped = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'raw-piped', input: {} } });
  assert.equal(piped.body.status, 'COMPLETED', piped.text);
  const v2 = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'raw-v2', input: {} } });
  assert.equal(v2.body.status, 'COMPLETED', v2.text);

  const [single, batchCall, stage0, stage1, processCall, ...rest] = raw.received;
  assert.equal(rest.length, 0, JSON.stringify(raw.received.map((r) => r.path)));
  assert.ok(single && batchCall && stage0 && stage1 && processCall);
  assert.equal(single.path, '/job');
  checkWire(single, 7_000, 'direct');

  const jobs = batchCall.body.batch as Record<string, unknown>[];
  assert.equal(jobs.length, 3, 'one batch call');
  for (const [i, job] of jobs.entries()) checkWire({ ...batchCall, body: job }, 7_000, `batch job ${i}`);
  // Sent together, so the same moment: deadlines 60 ms apart are time left 60 ms apart.
  const sentAt = jobs.map((j) => (j.deadline_ms as number) - (j.timeout_ms as number));
  assert.ok(Math.max(...sentAt) - Math.min(...sentAt) <= 5, `batch jobs sent at ${sentAt.join(', ')}`);
  assert.ok((jobs[2]?.timeout_ms as number) - (jobs[0]?.timeout_ms as number) >= 90, `later requests have more left: ${jobs.map((j) => j.timeout_ms).join(', ')}`);

  // Stage 1 of 2 has half of the template's 7 s; stage 2 its own 2 s.
  assert.deepEqual([stage0.body.stage, stage1.body.stage], [0, 1]);
  checkWire(stage0, 3_500, 'pipeline stage 1');
  checkWire(stage1, 2_000, 'pipeline stage 2');

  assert.equal(processCall.path, '/api/process');
  checkWire(processCall, 7_000, 'v2 process call');
});

test('Allot’s clock 15 minutes behind its worker’s: deadline_ms is in the worker’s past, the job still completes in its time left', async () => {
  const SKEW = 15 * 60_000;
  const behind = await startHarness({
    workers: { direct: { transport: 'http', url: direct.url }, raw: { transport: 'http', url: `${raw.url}/job` } },
    templates: { direct: { worker: 'direct', timeout_ms: 7_000, max_attempts: 1 }, 'raw-direct': { worker: 'raw', timeout_ms: 7_000 } },
  }, { clock: { now: () => Date.now() - SKEW } });
  try {
    raw.received.length = 0;
    seen.length = 0;
    const c = await behind.createClient('standard');
    const wire = await behind.call('POST', '/api/execute', { key: c.key, json: { template: 'raw-direct', input: {} } });
    assert.equal(wire.body.status, 'COMPLETED', wire.text);
    const [job] = raw.received;
    assert.ok(job);
    assert.ok((job.body.deadline_ms as number) < Date.now() - SKEW + 7_000, 'deadline_ms is on Allot’s clock: in the worker’s past');
    checkWire(job, 7_000, 'direct, Allot behind', -SKEW);

    // The SDK worker used to compare that deadline_ms with its own clock and refuse the job.
    const r = await behind.call('POST', '/api/execute', { key: c.key, json: { template: 'direct', input: {} } });
    assert.equal(r.body.status, 'COMPLETED', r.text);
    inWindow(seen.at(-1)?.timeoutMs ?? null, 'SDK worker, Allot behind');
  } finally {
    await behind.close();
  }
});
