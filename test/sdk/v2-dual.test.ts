/**
 * One worker built with the SDK serves the direct protocol and the
 * Orchestrator 2.0 handshake protocol (seed 001) at the same time, both
 * driving the same handler, so a team can port a worker before the old
 * orchestrator is gone. Real HTTP on 127.0.0.1 throughout; part 2 drives the
 * example summarizer (a separate process) through Allot registered twice.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerError, defineWorker, serveHttp } from '../../packages/worker/src/index.ts';
import type { HttpWorkerServer, Job } from '../../packages/worker/src/index.ts';
import { startHarness, type Harness, type Json } from '../helpers/app-harness.ts';
import { ROOT, startProcess, type Proc } from '../helpers/proc.ts';

interface CountInput {
  text: string;
  /** Wait for the test to release the gate of this name before answering. */
  gate?: string;
}

/** The handler both protocols drive: counts words, reports progress and usage. */
function makeCounter(name: string): { calls: { requestId: string; template: string; stage: number; attempt: number; deadlineMs: number | null }[]; gates: Map<string, () => void>; worker: ReturnType<typeof defineWorker> } {
  const calls: { requestId: string; template: string; stage: number; attempt: number; deadlineMs: number | null }[] = [];
  const gates = new Map<string, () => void>();
  const worker = defineWorker<CountInput, unknown>({
    name,
    version: '3.1.0',
    async handler(job: Job<CountInput>, ctx) {
      calls.push({ requestId: job.requestId, template: job.template, stage: job.stage, attempt: job.attempt, deadlineMs: job.deadlineMs });
      if (typeof job.input.text !== 'string') throw WorkerError.invalidInput('input.text must be a string');
      ctx.progress(30, 'counting');
      if (job.input.gate !== undefined) await new Promise<void>((resolve) => gates.set(job.input.gate as string, resolve));
      const words = job.input.text.split(/\s+/).filter(Boolean).length;
      ctx.addUsage({ inputTokens: words, outputTokens: 2, resources: { api_calls: 1 } });
      return { words, upper: job.input.text.toUpperCase() };
    },
  });
  return { calls, gates, worker };
}

async function postJson(url: string, body: unknown, token?: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json() };
}

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('one SDK worker, both protocols (no Allot)', () => {
  const DIRECT_TOKEN = 'direct-token-0123';
  const V2_TOKEN = 'v2-token-0123';
  const counter = makeCounter('counter');
  let server: HttpWorkerServer;
  let base: string;
  // Where direct-protocol jobs post their progress, as Allot's progress URL would receive it.
  const progressPosts: { auth: string | undefined; body: Json }[] = [];
  let progressSink: Server;
  let progressUrl: string;

  before(async () => {
    progressSink = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        progressPosts.push({ auth: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"recorded":true}');
      });
    });
    await new Promise<void>((resolve) => progressSink.listen(0, '127.0.0.1', () => resolve()));
    progressUrl = `http://127.0.0.1:${(progressSink.address() as AddressInfo).port}/internal/progress/r1`;
    server = await serveHttp(counter.worker, {
      token: DIRECT_TOKEN,
      v2: {
        // Nothing listens on port 9: only references would be fetched from it, and these tests send inline data.
        orchestratorUrl: 'http://127.0.0.1:9',
        token: V2_TOKEN,
        workerName: 'counter-v2',
        capabilities: { max_processing_time_ms: 30_000 },
        resourceRequirements: { min_memory_mb: 32, max_memory_mb: 64, estimated_cpu_ms: 5, api_calls: { openai: 0 } },
      },
    });
    base = server.url;
  });

  after(async () => {
    await server?.close();
    await new Promise<void>((resolve) => progressSink.close(() => resolve()));
  });

  test('GET /health is valid for both protocols', async () => {
    const h = await getJson(`${base}/health`);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'healthy');
    assert.equal(h.body.service, 'counter');
    assert.equal(h.body.version, '3.1.0');
    // The direct protocol's fields, unchanged.
    assert.equal(h.body.capabilities.protocol, 'allot-direct/1');
    assert.equal(h.body.capabilities.batch, true);
    assert.equal(h.body.capabilities.batch_handler, false);
    // The v2 enhanced health check.
    assert.equal(h.body.capabilities.protocol_version, '2.0');
    assert.equal(h.body.capabilities.supports_handshake, true);
    assert.equal(h.body.capabilities.supports_references, true);
    assert.deepEqual(Object.keys(h.body.resources).toSorted(), ['avg_processing_time_ms', 'current_load', 'queue_length']);
    assert.ok(!Number.isNaN(Date.parse(h.body.timestamp)));
  });

  test('a direct job and a v2 handshake/process/progress/acknowledge cycle reach the same handler', async () => {
    counter.calls.length = 0;
    // Direct protocol, as Allot's http transport sends it.
    const job = {
      request_id: 'r1', template: 'count', stage: 0, attempt: 1, input: { text: 'one two three' },
      parameters: { model: 'gpt-3.5', max_tokens: 16 }, deadline_ms: Date.now() + 10_000, progress: { url: progressUrl, token: 'progress-token' },
    };
    const direct = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DIRECT_TOKEN}`, 'x-allot-request-id': 'r1' },
      body: JSON.stringify(job),
    });
    const d = (await direct.json()) as Json;
    assert.equal(direct.status, 200);
    assert.equal(d.success, true, JSON.stringify(d));
    assert.deepEqual(d.output, { words: 3, upper: 'ONE TWO THREE' });
    assert.deepEqual(d.usage.tokens, { input: 3, output: 2 });
    await waitFor(() => (progressPosts.some((p) => p.body.progress === 30 && p.body.message === 'counting') ? true : undefined), 'direct progress post');
    assert.equal(progressPosts[0]?.auth, 'Bearer progress-token');

    // v2: handshake.
    const packet = `pkt_${randomUUID()}`;
    const ids = { packet_id: packet, execution_id: 'r2', stage_id: 'count:0' };
    const inline = { ref_id: 'ref_a', storage_type: 'inline', inline_data: { text: 'one two three', gate: packet }, size_bytes: 40 };
    const hs = await postJson(`${base}/api/handshake`, { ...ids, input_ref: inline }, V2_TOKEN);
    assert.equal(hs.status, 200);
    assert.equal(hs.body.success, true);
    assert.equal(hs.body.packet_id, packet);
    assert.equal(hs.body.worker_name, 'counter-v2');
    assert.equal(hs.body.status, 'ready');
    assert.equal(hs.body.capabilities.max_processing_time_ms, 30_000);
    assert.deepEqual(hs.body.capabilities.input_types, ['json', 'reference']);
    assert.deepEqual(hs.body.resource_requirements, { min_memory_mb: 32, max_memory_mb: 64, estimated_cpu_ms: 5, api_calls: { openai: 0 } });

    // v2: process, with progress polled while the handler waits at its gate.
    const processing = postJson(`${base}/api/process`, { ...ids, input_ref: inline, parameters: { model: 'gpt-3.5' } }, V2_TOKEN);
    const mid = await waitFor(async () => {
      const p = await getJson(`${base}/api/progress/${packet}`, V2_TOKEN);
      return p.body.progress === 30 ? p.body : undefined;
    }, 'v2 progress at 30');
    assert.equal(mid.stage, 'processing');
    assert.equal(mid.message, 'counting');
    assert.ok(!Number.isNaN(Date.parse(mid.timestamp)));
    const load = await getJson(`${base}/health`);
    assert.equal(load.body.resources.current_load, 1, 'the running packet counts as load');
    counter.gates.get(packet)?.();
    const pr = await processing;
    assert.equal(pr.status, 200);
    assert.equal(pr.body.success, true, JSON.stringify(pr.body));
    assert.equal(pr.body.packet_id, packet);
    assert.equal(pr.body.output_ref.storage_type, 'inline');
    assert.deepEqual(pr.body.output_ref.inline_data, d.output, 'same output as the direct job');
    assert.equal(pr.body.metrics.tokens_used, 5);
    assert.equal(pr.body.metrics.api_calls_made, 1);
    assert.equal(typeof pr.body.metrics.processing_time_ms, 'number');
    assert.deepEqual(pr.body.usage.tokens, d.usage.tokens, 'same usage as the direct job');
    const done = await getJson(`${base}/api/progress/${packet}`, V2_TOKEN);
    assert.equal(done.body.stage, 'completed');
    assert.equal(done.body.progress, 100);

    // v2: acknowledge frees the packet.
    const ack = await postJson(`${base}/api/acknowledge`, { ...ids, success: true }, V2_TOKEN);
    assert.deepEqual(ack.body, { success: true, packet_id: packet, acknowledged: true });
    assert.equal((await getJson(`${base}/api/progress/${packet}`, V2_TOKEN)).body.stage, 'unknown');

    // Both reached the one handler; the v2 job is the same job shape (template and stage from stage_id).
    assert.deepEqual(counter.calls.map((c) => [c.requestId, c.template, c.stage]), [['r1', 'count', 0], ['r2', 'count', 0]]);
    const v2Call = counter.calls[1];
    assert.ok(v2Call?.deadlineMs !== null && (v2Call?.deadlineMs ?? 0) > Date.now() && (v2Call?.deadlineMs ?? 0) <= Date.now() + 30_000, 'no deadline_ms: the declared max_processing_time_ms');
  });

  test('a process call’s timeout_ms is its time left: the deadline_ms of a clock 15 minutes behind does not matter', async () => {
    counter.calls.length = 0;
    const packet = `pkt_${randomUUID()}`;
    const ids = { packet_id: packet, execution_id: 'r-skew', stage_id: 'count:0' };
    const sent = Date.now();
    const pr = await postJson(`${base}/api/process`, { ...ids, input_ref: { storage_type: 'inline', inline_data: { text: 'a b c' } }, parameters: {}, deadline_ms: Date.now() - 15 * 60_000, timeout_ms: 4_000 }, V2_TOKEN);
    assert.equal(pr.body.success, true, JSON.stringify(pr.body));
    const call = counter.calls.at(-1);
    assert.ok(call?.deadlineMs !== null && (call?.deadlineMs ?? 0) >= sent + 3_900 && (call?.deadlineMs ?? 0) <= Date.now() + 4_000, 'the handler’s deadline is on this clock');
    // A gated job with 150 ms left is aborted after about 150 ms.
    const started = Date.now();
    const slow = await postJson(`${base}/api/process`, { packet_id: `pkt_${randomUUID()}`, execution_id: 'r-skew-2', stage_id: 'count:0', input_ref: { storage_type: 'inline', inline_data: { text: 'x', gate: 'never' } }, parameters: {}, deadline_ms: Date.now() + 15 * 60_000, timeout_ms: 150 }, V2_TOKEN);
    assert.equal(slow.body.success, false);
    assert.equal(slow.body.error.code, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started < 2_000, `aborted after ${Date.now() - started} ms`);
  });

  test('an output of 1 KiB or more is stored and served by reference until acknowledged', async () => {
    const text = 'reference sized output for the orchestrator '.repeat(40);
    const packet = `pkt_${randomUUID()}`;
    const ids = { packet_id: packet, execution_id: 'r3', stage_id: 'count:1' };
    const pr = await postJson(`${base}/api/process`, { ...ids, input_ref: { storage_type: 'inline', inline_data: { text } }, parameters: {}, attempt: 2, deadline_ms: Date.now() + 5_000 }, V2_TOKEN);
    assert.equal(pr.body.success, true, JSON.stringify(pr.body));
    const ref = pr.body.output_ref;
    assert.equal(ref.storage_type, 'reference');
    assert.equal(ref.inline_data, undefined);
    assert.ok(ref.size_bytes >= 1024);
    const ttl = Date.parse(ref.expires_at) - Date.now();
    assert.ok(ttl > 23.9 * 3_600_000 && ttl <= 24 * 3_600_000, `expires in 24 h, not ${ttl} ms`);
    assert.equal((await getJson(`${base}/api/data/${ref.ref_id}`)).status, 401, 'stored outputs need the v2 token');
    const data = await getJson(`${base}/api/data/${ref.ref_id}`, V2_TOKEN);
    assert.equal(data.status, 200);
    assert.deepEqual(data.body, { words: 240, upper: text.toUpperCase() });
    const call = counter.calls.at(-1);
    assert.deepEqual([call?.requestId, call?.stage, call?.attempt], ['r3', 1, 2], 'stage from stage_id, attempt passed through');

    await postJson(`${base}/api/acknowledge`, ids, V2_TOKEN);
    const gone = await getJson(`${base}/api/data/${ref.ref_id}`, V2_TOKEN);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
  });

  test('a redelivered packet is answered from the dedupe cache, on either protocol', async () => {
    const callsBefore = counter.calls.length;
    const inline = { storage_type: 'inline', inline_data: { text: 'again and again' } };
    const a = await postJson(`${base}/api/process`, { packet_id: 'p-a', execution_id: 'r4', stage_id: 'count:0', input_ref: inline }, V2_TOKEN);
    const b = await postJson(`${base}/api/process`, { packet_id: 'p-b', execution_id: 'r4', stage_id: 'count:0', input_ref: inline }, V2_TOKEN);
    const c = await fetch(server.url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${DIRECT_TOKEN}` },
      body: JSON.stringify({ request_id: 'r4', template: 'count', stage: 0, input: { text: 'again and again' } }),
    }).then((r) => r.json() as Promise<Json>);
    assert.deepEqual(b.body.output_ref.inline_data, a.body.output_ref.inline_data);
    assert.equal(c.metadata.deduplicated, true);
    assert.equal(counter.calls.length, callsBefore + 1, 'the handler ran once');
    // Another orchestrator's stage ids are taken whole as the template: two stages of one execution are two jobs.
    await postJson(`${base}/api/process`, { packet_id: 'p-c', execution_id: 'x1', stage_id: 'stage-789', input_ref: inline }, V2_TOKEN);
    await postJson(`${base}/api/process`, { packet_id: 'p-d', execution_id: 'x1', stage_id: 'stage-790', input_ref: inline }, V2_TOKEN);
    assert.deepEqual(counter.calls.slice(-2).map((x) => x.template), ['stage-789', 'stage-790']);
  });

  test('refusals are answers, not crashes: incompatible input, bad bodies, handler errors, wrong tokens', async () => {
    const noRef = await postJson(`${base}/api/handshake`, { packet_id: 'p1', input_ref: { storage_type: 'reference' } }, V2_TOKEN);
    assert.equal(noRef.body.success, true);
    assert.equal(noRef.body.status, 'incompatible');
    assert.match(noRef.body.message, /ref_id/);
    const notObject = await postJson(`${base}/api/handshake`, { packet_id: 'p1', input_ref: { storage_type: 'inline', inline_data: 'just text' } }, V2_TOKEN);
    assert.equal(notObject.body.status, 'incompatible');

    const handlerError = await postJson(`${base}/api/process`, { packet_id: 'p2', execution_id: 'r5', stage_id: 'count:0', input_ref: { storage_type: 'inline', inline_data: { text: 7 } } }, V2_TOKEN);
    assert.equal(handlerError.status, 200);
    assert.deepEqual(handlerError.body.error, { code: 'VALIDATION_ERROR', message: 'input.text must be a string', retryable: false });
    assert.equal(handlerError.body.success, false);
    assert.equal(handlerError.body.packet_id, 'p2');
    const failed = await getJson(`${base}/api/progress/p2`, V2_TOKEN);
    assert.equal(failed.body.stage, 'failed');

    const badParams = await postJson(`${base}/api/process`, { packet_id: 'p3', input_ref: { storage_type: 'inline', inline_data: { text: 'x' } }, parameters: 'fast' }, V2_TOKEN);
    assert.equal(badParams.body.success, false);
    assert.equal(badParams.body.error.code, 'VALIDATION_ERROR');
    assert.match(badParams.body.error.message, /parameters/);

    const noPacket = await postJson(`${base}/api/process`, { input_ref: {} }, V2_TOKEN);
    assert.equal(noPacket.status, 400);
    assert.equal(noPacket.body.error.code, 'VALIDATION_ERROR');
    const notJson = await fetch(`${base}/api/process`, { method: 'POST', headers: { authorization: `Bearer ${V2_TOKEN}` }, body: '{' });
    assert.equal(notJson.status, 400);

    // Each protocol has its own token.
    assert.equal((await postJson(`${base}/api/handshake`, { packet_id: 'p4', input_ref: {} })).status, 401);
    assert.equal((await postJson(`${base}/api/process`, { packet_id: 'p4', input_ref: {} }, DIRECT_TOKEN)).status, 401);
    assert.equal((await getJson(`${base}/api/progress/p2`)).status, 401);
    assert.equal((await postJson(server.url, { request_id: 'r6', template: 'count', input: { text: 'x' } }, V2_TOKEN)).status, 401);
    assert.equal((await fetch(`${base}/api/process`, { headers: { authorization: `Bearer ${V2_TOKEN}` } })).status, 405);

    // Still serving.
    assert.equal((await getJson(`${base}/health`)).body.status, 'healthy');
  });
});

describe('a v2 process call and its time left (no Allot)', () => {
  const TOKEN = 'v2-time-token-0123';
  /** The handler's view of each job it ran. */
  const ran: Job<{ ms?: number }>[] = [];
  /** Input references the worker asked the orchestrator stub for; the stub never answers them. */
  const fetched: string[] = [];
  let orchestrator: Server;
  let server: HttpWorkerServer;
  let base: string;

  before(async () => {
    orchestrator = createServer((req) => {
      fetched.push(req.url ?? '');
    });
    await new Promise<void>((resolve) => orchestrator.listen(0, '127.0.0.1', () => resolve()));
    server = await serveHttp(defineWorker<{ ms?: number }, unknown>({
      name: 'sleeper',
      dedupe: false,
      async handler(job, ctx) {
        ran.push(job);
        if (job.input.ms) await sleep(job.input.ms, undefined, { signal: ctx.signal });
        return { ok: true };
      },
    }), { v2: { orchestratorUrl: `http://127.0.0.1:${(orchestrator.address() as AddressInfo).port}`, token: TOKEN, capabilities: { max_processing_time_ms: 30_000 } } });
    base = server.url;
  });

  after(async () => {
    await server?.close();
    orchestrator?.closeAllConnections();
    await new Promise<void>((resolve) => orchestrator.close(() => resolve()));
  });

  const call = (extra: Record<string, unknown>, input: Record<string, unknown> = { storage_type: 'inline', inline_data: {} }): Record<string, unknown> => ({
    packet_id: `pkt_${randomUUID()}`, execution_id: randomUUID(), stage_id: 't:0', input_ref: input, parameters: {}, ...extra,
  });
  const reference = { ref_id: 'ref_slow', storage_type: 'reference', size_bytes: 2_000 };

  test('fetching the input reference is bounded by timeout_ms, not by a deadline_ms 15 minutes ahead', async () => {
    fetched.length = 0;
    const t0 = performance.now();
    const r = await postJson(`${base}/api/process`, call({ deadline_ms: Date.now() + 15 * 60_000, timeout_ms: 300 }, reference), TOKEN);
    const ms = performance.now() - t0;
    assert.equal(r.body.success, false);
    assert.equal(r.body.error.code, 'DEADLINE_EXCEEDED', JSON.stringify(r.body));
    assert.equal(r.body.error.retryable, true);
    assert.deepEqual(fetched, ['/api/data/ref_slow'], 'it did ask for the reference');
    assert.ok(ms >= 280 && ms < 2_000, `gave up after ${ms.toFixed(0)} ms`);
  });

  test('no time left: answered at once, without fetching the input or running the handler', async () => {
    fetched.length = 0;
    ran.length = 0;
    const r = await postJson(`${base}/api/process`, call({ deadline_ms: Date.now() + 60_000, timeout_ms: 0 }, reference), TOKEN);
    assert.equal(r.body.error.code, 'DEADLINE_EXCEEDED', JSON.stringify(r.body));
    assert.equal(r.body.error.retryable, true);
    assert.deepEqual(fetched, []);
    assert.deepEqual(ran, []);
  });

  test('a malformed timeout_ms or deadline_ms is a VALIDATION_ERROR naming it, before any work', async () => {
    fetched.length = 0;
    ran.length = 0;
    for (const [extra, field] of [[{ timeout_ms: -1 }, /timeout_ms/], [{ timeout_ms: 'soon' }, /timeout_ms/], [{ timeout_ms: 2_000, deadline_ms: 'later' }, /deadline_ms/]] as const) {
      const r = await postJson(`${base}/api/process`, call(extra, reference), TOKEN);
      assert.equal(r.body.success, false);
      assert.equal(r.body.error.code, 'VALIDATION_ERROR', JSON.stringify(r.body));
      assert.equal(r.body.error.retryable, false);
      assert.match(r.body.error.message, field);
    }
    assert.deepEqual(fetched, []);
    assert.deepEqual(ran, []);
  });

  test('the handler sees timeout_ms as sent, or null when the call had none', async () => {
    ran.length = 0;
    const sent = Date.now();
    await postJson(`${base}/api/process`, call({ timeout_ms: 4_000 }), TOKEN);
    await postJson(`${base}/api/process`, call({}), TOKEN);
    const [timed, untimed] = ran;
    assert.equal(timed?.timeoutMs, 4_000);
    assert.ok((timed?.deadlineMs ?? 0) >= sent + 4_000 - 5 && (timed?.deadlineMs ?? 0) <= Date.now() + 4_000);
    assert.equal(untimed?.timeoutMs, null, 'not sent');
    assert.ok((untimed?.deadlineMs ?? 0) >= sent + 30_000 - 5 && (untimed?.deadlineMs ?? 0) <= Date.now() + 30_000, 'max_processing_time_ms after arrival');
  });

  test('the time counts from when the call arrived, its body still being sent', async () => {
    const body = JSON.stringify(call({ timeout_ms: 1_000 }, { storage_type: 'inline', inline_data: { ms: 10_000 } }));
    const t0 = performance.now();
    const answer = await new Promise<Json>((resolve, reject) => {
      const req = request(`${base}/api/process`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      // Half the body now, the rest 700 ms later: the handler starts with about 300 ms left.
      req.write(body.slice(0, 20));
      setTimeout(() => req.end(body.slice(20)), 700);
    });
    const ms = performance.now() - t0;
    assert.equal(answer.error?.code, 'DEADLINE_EXCEEDED', JSON.stringify(answer));
    assert.ok(ms >= 950 && ms < 1_500, `aborted ${ms.toFixed(0)} ms after the call began (1,000 ms, not 1,700)`);
  });
});

describe('through Allot: the same worker registered as "http" and as "v2"', () => {
  const HTTP_TOKEN = 'sum-http-token-0123';
  const V2_TOKEN = 'sum-v2-token-0123';
  let h: Harness;
  let worker: Proc;
  let workerUrl: string;
  const inProcess: HttpWorkerServer[] = [];

  before(async () => {
    h = await startHarness({});
    worker = await startProcess(
      [join(ROOT, 'examples/summarizer/server.ts'), '--port', '0', '--token', HTTP_TOKEN, '--v2-orchestrator', h.relayUrl, '--v2-token', V2_TOKEN, '--v2-name', 'sum-v2'],
      { ready: /listening on (http:\/\/\S+)/ },
    );
    workerUrl = /listening on (http:\/\/\S+)/.exec(worker.output())?.[1] as string;
    for (const [name, transport, token] of [['sum-http', 'http', HTTP_TOKEN], ['sum-v2', 'v2', V2_TOKEN]]) {
      const w = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name, transport, url: workerUrl, token } });
      assert.equal(w.status, 201, w.text);
    }
    for (const [name, w] of [['sum-direct', 'sum-http'], ['sum-legacy', 'sum-v2']]) {
      const t = await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name, worker: w, model: 'gpt-3.5', max_tokens: 2_000, timeout_ms: 10_000 } });
      assert.equal(t.status, 201, t.text);
    }
  });

  after(async () => {
    for (const s of inProcess) await s.close();
    await h?.close();
    await worker?.stop();
  });

  test('small and large inputs complete on both registrations with the same output and usage', async () => {
    const c = await h.createClient('standard');
    const small = { text: 'Cats sleep a lot. Cats purr when happy. Dogs bark at night. Birds sing in the morning.', sentences: 2 };
    const sentences = Array.from({ length: 30 }, (_, i) => `Sentence ${i} talks about the migration of workers number ${i} to Allot.`);
    const large = { text: sentences.join(' '), sentences: 25 };
    assert.ok(Buffer.byteLength(JSON.stringify(large)) > 1024, 'the large input goes by reference');

    const results: Record<string, Json> = {};
    for (const [label, input] of [['small', small], ['large', large]] as const) {
      for (const template of ['sum-direct', 'sum-legacy']) {
        const r = await h.call('POST', '/api/execute', { key: c.key, json: { template, input } });
        assert.equal(r.status, 200, r.text);
        const done = r.body.status === 'COMPLETED' || r.body.status === 'FAILED' ? r.body : await h.waitTerminal(r.body.request_id ?? r.body.id, c.key);
        assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
        results[`${label}/${template}`] = done;
      }
      const direct = results[`${label}/sum-direct`];
      const legacy = results[`${label}/sum-legacy`];
      assert.deepEqual(legacy.output, direct.output, `${label}: same output on both protocols`);
      assert.ok(direct.usage.tokens.input > 0 && direct.usage.tokens.output > 0, JSON.stringify(direct));
      assert.deepEqual(legacy.usage.tokens, direct.usage.tokens, `${label}: the same usage recorded (input and output tokens)`);
      assert.ok(direct.cost_usd > 0 && legacy.cost_usd === direct.cost_usd, `${label}: same cost ${direct.cost_usd} / ${legacy.cost_usd}`);
      assert.equal(legacy.attempts, 1);
    }
    assert.ok(Buffer.byteLength(JSON.stringify(results['large/sum-direct'].output)) >= 1024, 'the large output came back by reference');

    // The large v2 input was fetched from Allot's /api/data with the worker's token (through the relay).
    const fetched = h.progressPosts.filter((p) => p.path.startsWith('/api/data/'));
    assert.equal(fetched.length, 1, JSON.stringify(fetched.map((p) => [p.path, p.status])));
    assert.equal(fetched[0]?.status, 200);
    assert.equal(fetched[0]?.authorization, `Bearer ${V2_TOKEN}`);

    // Usage is recorded for the client, the same on both templates: two requests each, same tokens, same cost.
    const u = await h.call('GET', `/api/usage/${c.id}`, { key: c.key });
    assert.equal(u.status, 200, u.text);
    const byTemplate = Object.fromEntries((u.body.by_template as Json[]).map((t) => [t.template, t]));
    const [viaDirect, viaV2] = [byTemplate['sum-direct'], byTemplate['sum-legacy']];
    assert.equal(viaDirect?.completed, 2, u.text);
    assert.equal(viaV2?.completed, 2, u.text);
    assert.deepEqual(viaV2.tokens, viaDirect.tokens, u.text);
    assert.ok(viaDirect.cost_usd > 0, u.text);
    assert.equal(viaV2.cost_usd, viaDirect.cost_usd, u.text);
    assert.deepEqual(h.internalErrors, []);
  });

  test('registered without a transport, a worker serving both is driven by the direct protocol', async () => {
    const r = await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name: 'sum-auto', url: workerUrl } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.worker.transport, 'http');
    assert.equal((await h.call('DELETE', '/admin/workers/sum-auto', { key: h.adminKey })).status, 200);
  });

  test('an input reference that cannot be fetched (wrong token) fails the request clearly', async () => {
    const counter = makeCounter('counter');
    // requireToken off, so Allot's calls get through and the wrong token only shows when the worker fetches the reference.
    const bad = await serveHttp(counter.worker, { v2: { orchestratorUrl: h.relayUrl, token: 'not-the-token', workerName: 'bad-v2', requireToken: false } });
    inProcess.push(bad);
    const locked = await serveHttp(counter.worker, { v2: { orchestratorUrl: h.relayUrl, token: 'another-token', workerName: 'locked-v2' } });
    inProcess.push(locked);
    for (const [name, url, token] of [['bad-v2', bad.url, 'bad-v2-token-0123'], ['locked-v2', locked.url, 'locked-v2-token-0123']]) {
      assert.equal((await h.call('POST', '/admin/workers', { key: h.adminKey, json: { name, transport: 'v2', url, token } })).status, 201);
      assert.equal((await h.call('POST', '/admin/templates', { key: h.adminKey, json: { name: `count-${name}`, worker: name, timeout_ms: 10_000 } })).status, 201);
    }
    const c = await h.createClient('standard');
    const text = 'this input is long enough to travel by reference '.repeat(30);
    const r = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count-bad-v2', input: { text } } });
    const failed = r.body.status === 'FAILED' ? r.body : await h.waitTerminal(r.body.request_id ?? r.body.id, c.key);
    assert.equal(failed.status, 'FAILED', JSON.stringify(failed));
    assert.equal(failed.error.code, 'REFERENCE_UNAVAILABLE');
    assert.match(failed.error.message, /could not be fetched .*HTTP 401/);
    assert.equal(failed.error.retryable, false);
    assert.equal(counter.calls.length, 0, 'the handler never ran without its input');

    // Not a crash: the same worker still serves inline input.
    const ok = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count-bad-v2', input: { text: 'still here' } } });
    const okDone = ok.body.status === 'COMPLETED' ? ok.body : await h.waitTerminal(ok.body.request_id ?? ok.body.id, c.key);
    assert.equal(okDone.status, 'COMPLETED', JSON.stringify(okDone));
    assert.deepEqual(okDone.output, { words: 2, upper: 'STILL HERE' });

    // A worker that does not accept Allot's token refuses at the handshake, and Allot says so.
    const refused = await h.call('POST', '/api/execute', { key: c.key, json: { template: 'count-locked-v2', input: { text: 'x' } } });
    const refusedDone = refused.body.status === 'FAILED' ? refused.body : await h.waitTerminal(refused.body.request_id ?? refused.body.id, c.key);
    assert.equal(refusedDone.status, 'FAILED', JSON.stringify(refusedDone));
    assert.equal(refusedDone.error.code, 'UNAUTHORIZED');
    assert.match(refusedDone.error.message, /refused the handshake \(HTTP 401\)/);
    assert.deepEqual(h.internalErrors, []);
  });
});
