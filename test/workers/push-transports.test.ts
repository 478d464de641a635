/**
 * The push transports (HttpTransport on node:http, FetchTransport on fetch
 * for Workers) against one real HTTP worker on loopback: the same job body
 * and headers, and the same outcome for every answer a worker can give.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerDef } from '../../src/model.ts';
import { FetchTransport } from '../../src/workers/fetch-transport.ts';
import { HttpTransport } from '../../src/workers/http-transport.ts';
import { RawJson, type DispatchContext, type Job, type Transport } from '../../src/workers/transport.ts';

let server: http.Server;
let base: string;
let closedPort: number;

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const send = (status: number, b: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof b === 'string' ? b : JSON.stringify(b));
      };
      switch (req.url) {
        case '/ok':
          return send(200, {
            success: true, output: { got: JSON.parse(body), auth: req.headers.authorization ?? null, rid: req.headers['x-allot-request-id'], length: Number(req.headers['content-length']) },
            usage: { tokens: { input: 3, output: 5 }, resources: { email: 1 } }, metadata: { model: 'm' },
          });
        case '/fail500':
          return send(500, { success: false, error: { code: 'UPSTREAM', message: 'provider down' } });
        case '/fail-final':
          return send(200, { success: false, error: { code: 'BAD_INPUT', message: 'no', retryable: false }, usage: { tokens: { input: 1, output: 0 } } });
        case '/notjson':
          return send(200, 'hello');
        case '/nostandard':
          return send(502, { hello: 'there' });
        case '/huge': {
          res.writeHead(200, { 'content-type': 'application/json' });
          const mb = Buffer.alloc(1024 * 1024, 0x20);
          let sent = 0;
          const pump = (): void => {
            while (sent < 17) {
              sent++;
              if (!res.write(mb)) return void res.once('drain', pump);
            }
            res.end();
          };
          res.on('error', () => {});
          return pump();
        }
        case '/slow':
          return void setTimeout(() => send(200, { success: true, output: 'late' }), 5_000).unref();
        case '/batch': {
          const jobs = (JSON.parse(body) as { batch: Job[] }).batch;
          return send(200, { success: true, results: jobs.map((j) => ({ success: true, output: j.request_id })) });
        }
        case '/batch-short':
          return send(200, { success: true, results: [] });
        default:
          return send(404, { success: false, error: { code: 'NOT_FOUND', message: req.url } });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const worker = (path: string, over: Partial<WorkerDef> = {}): WorkerDef => ({ name: 'w', transport: 'http', url: `${base}${path}`, maxConcurrency: 4, capabilities: [], source: 'api', ...over });
const job = (over: Partial<Job> = {}): Job => ({ request_id: 'req_1', template: 't', stage: 0, attempt: 1, input: { text: 'hi' }, parameters: { p: 1 }, deadline_ms: Date.now() + 30_000, timeout_ms: 30_000, ...over });
const ctx = (signal = new AbortController().signal): DispatchContext => ({ signal, onProgress: () => {} }) as DispatchContext;

for (const [name, make] of [['HttpTransport (node:http)', () => new HttpTransport()], ['FetchTransport (fetch)', () => new FetchTransport()]] as const) {
  describe(name, () => {
    let t: Transport;
    before(() => {
      t = make();
    });
    after(() => t.close());

    it('posts the job as JSON with its headers; the standard response becomes the outcome with usage and metadata', async () => {
      const o = await t.dispatch(worker('/ok', { token: 'secret-token' }), job(), ctx());
      assert.equal(o.ok, true);
      if (!o.ok) return;
      const out = o.output as { got: Job; auth: string; rid: string; length: number };
      assert.deepEqual(out.got, JSON.parse(JSON.stringify(job({ deadline_ms: out.got.deadline_ms }))));
      assert.equal(out.auth, 'Bearer secret-token');
      assert.equal(out.rid, 'req_1');
      assert.equal(out.length, Buffer.byteLength(JSON.stringify(out.got)));
      assert.deepEqual(o.usage, { tokens: { input: 3, output: 5 }, resources: { email: 1 } });
      assert.deepEqual(o.metadata, { model: 'm' });
    });

    it('splices an input held as JSON bytes (RawJson) into the body', async () => {
      const raw = new RawJson(Buffer.from('{"a":[1,2,{"b":"é"}]}'), () => ({ a: [1, 2, { b: 'é' }] }));
      const o = await t.dispatch(worker('/ok'), job({ input: raw }), ctx());
      assert.equal(o.ok, true);
      if (o.ok) assert.deepEqual((o.output as { got: Job }).got.input, { a: [1, 2, { b: 'é' }] });
    });

    it("a worker's failure: retryable by its word, else by the status (5xx)", async () => {
      assert.deepEqual(await t.dispatch(worker('/fail500'), job(), ctx()), { ok: false, error: { code: 'UPSTREAM', message: 'provider down', retryable: true }, usage: null });
      assert.deepEqual(await t.dispatch(worker('/fail-final'), job(), ctx()), { ok: false, error: { code: 'BAD_INPUT', message: 'no', retryable: false }, usage: { tokens: { input: 1, output: 0 }, resources: {} } });
    });

    it('an answer that is not JSON, or not the standard response, is WORKER_ERROR', async () => {
      const a = await t.dispatch(worker('/notjson'), job(), ctx());
      assert.equal(!a.ok && a.error.code, 'WORKER_ERROR');
      assert.match(!a.ok ? a.error.message : '', /not JSON/);
      const b = await t.dispatch(worker('/nostandard'), job(), ctx());
      assert.deepEqual(!b.ok && [b.error.code, b.error.retryable], ['WORKER_ERROR', true]);
    });

    it('an answer over 16 MiB is refused, not buffered', async () => {
      const o = await t.dispatch(worker('/huge'), job(), ctx());
      assert.deepEqual(!o.ok && [o.error.code, o.error.retryable], ['WORKER_ERROR', false]);
      assert.match(!o.ok ? o.error.message : '', /more than 16777216 bytes/);
    });

    it('a worker nobody answers for is WORKER_UNAVAILABLE, retryable', async () => {
      const o = await t.dispatch({ ...worker(''), url: `http://127.0.0.1:${closedPort}/x` }, job(), ctx());
      assert.deepEqual(!o.ok && [o.error.code, o.error.retryable], ['WORKER_UNAVAILABLE', true]);
      const none = await t.dispatch({ ...worker(''), url: undefined }, job(), ctx());
      assert.deepEqual(!none.ok && [none.error.code, none.error.retryable], ['WORKER_UNAVAILABLE', false]);
    });

    it('cancelled while the worker works: CANCELLED at once; past the deadline: REQUEST_TIMEOUT', async () => {
      const ac = new AbortController();
      const t0 = performance.now();
      const p = t.dispatch(worker('/slow'), job(), ctx(ac.signal));
      setTimeout(() => ac.abort({ code: 'CANCELLED' }), 50);
      const o = await p;
      assert.deepEqual(!o.ok && o.error.code, 'CANCELLED');
      assert.ok(performance.now() - t0 < 2_000);
      const late = new AbortController();
      setTimeout(() => late.abort(new Error('deadline')), 50);
      const o2 = await t.dispatch(worker('/slow'), job(), ctx(late.signal));
      assert.deepEqual(!o2.ok && [o2.error.code, o2.error.retryable], ['REQUEST_TIMEOUT', true]);
    });

    it('a batch is one call, answered in order; a short answer fails every job', async () => {
      const jobs = [job({ request_id: 'a' }), job({ request_id: 'b' })];
      const out = await t.dispatchBatch?.(worker('/batch'), jobs, ctx());
      assert.deepEqual(out?.map((o) => o.ok && o.output), ['a', 'b']);
      const short = await t.dispatchBatch?.(worker('/batch-short'), jobs, ctx());
      assert.deepEqual(short?.map((o) => !o.ok && o.error.code), ['WORKER_ERROR', 'WORKER_ERROR']);
    });
  });
}
