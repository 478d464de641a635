/**
 * Direct HTTP transport: POST the job as JSON, read the standard response.
 * node:http with a keep-alive agent per worker: it costs far less per call
 * than fetch, and dispatch is the hot path.
 */
import http from 'node:http';
import https from 'node:https';
import type { WorkerDef } from '../model.ts';
import { abortOutcome, batchOutcomes, bodyBytes, failure, jobJson, parseStandardResponse, type DispatchContext, type Job, type Transport, type WorkerOutcome } from './transport.ts';
import { redactUrl } from '../core/redact.ts';

const isJob = (p: unknown): p is Job => typeof p === 'object' && p !== null && 'request_id' in p && 'input' in p;

/** Worker answers larger than this are refused. @default 16 MiB */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class HttpTransport implements Transport {
  readonly #agents = new Map<string, http.Agent>();
  readonly #urls = new Map<string, URL>();

  #url(u: string): URL {
    let url = this.#urls.get(u);
    if (!url) {
      url = new URL(u);
      this.#urls.set(u, url);
    }
    return url;
  }

  #agent(w: WorkerDef, secure: boolean): http.Agent {
    const key = `${w.name}|${w.maxConcurrency}|${secure}`;
    let a = this.#agents.get(key);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: w.maxConcurrency, maxFreeSockets: w.maxConcurrency };
      a = secure ? new https.Agent(opts) : new http.Agent(opts);
      this.#agents.set(key, a);
    }
    return a;
  }

  /**
   * Several jobs as one call: `{ "batch": [job, …] }` answered by
   * `{ "success": true, "results": [response, …] }` in the same order.
   * A failure of the call itself is every job's failure.
   */
  async dispatchBatch(w: WorkerDef, jobs: readonly Job[], ctx: DispatchContext): Promise<WorkerOutcome[]> {
    return batchOutcomes(w, jobs, await this.#post(w, { batch: jobs }, jobs[0]?.request_id ?? '', ctx));
  }

  dispatch(w: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome> {
    return this.#post(w, job, job.request_id, ctx).then((r) => (r.ok ? parseStandardResponse(r.body, r.status) : r.outcome));
  }

  #post(w: WorkerDef, payload: unknown, requestId: string, ctx: DispatchContext): Promise<{ ok: true; body: unknown; status: number } | { ok: false; outcome: WorkerOutcome }> {
    const fail = (o: WorkerOutcome) => Promise.resolve({ ok: false as const, outcome: o });
    if (!w.url) return fail(failure('WORKER_UNAVAILABLE', `Worker "${w.name}" has no url`, false));
    if (ctx.signal.aborted) return fail(abortOutcome(ctx.signal));
    const url = this.#url(w.url);
    const secure = url.protocol === 'https:';
    const body = isJob(payload) ? jobJson(payload) : JSON.stringify(payload);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': bodyBytes(body),
      'x-allot-request-id': requestId,
    };
    if (w.token) headers.authorization = `Bearer ${w.token}`;
    type Raw = { ok: true; body: unknown; status: number } | { ok: false; outcome: WorkerOutcome };
    return new Promise<Raw>((resolve) => {
      let settled = false;
      const finish = (r: Raw): void => {
        if (settled) return;
        settled = true;
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const done = (o: WorkerOutcome): void => finish({ ok: false, outcome: o });
      const req = (secure ? https : http).request(
        url,
        { method: 'POST', headers, agent: this.#agent(w, secure) },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy();
              done(failure('WORKER_ERROR', `Worker "${w.name}" answered more than ${MAX_RESPONSE_BYTES} bytes`, false));
            } else chunks.push(c);
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              done(failure('WORKER_ERROR', `Worker "${w.name}" answered HTTP ${status} with a body that is not JSON`, status >= 500 || status === 200));
              return;
            }
            finish({ ok: true, body: parsed, status });
          });
          res.on('error', (err) => done(failure('WORKER_UNAVAILABLE', `Worker "${w.name}": ${err.message}`, true)));
        },
      );
      const onAbort = (): void => {
        req.destroy();
        done(abortOutcome(ctx.signal));
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => done(ctx.signal.aborted ? abortOutcome(ctx.signal) : failure('WORKER_UNAVAILABLE', `Worker "${w.name}" at ${redactUrl(w.url)}: ${err.message}`, true)));
      if (typeof body === 'string') req.end(body);
      else {
        // Written in parts: a large input is not copied into one buffer first.
        for (const part of body.slice(0, -1)) req.write(part);
        req.end(body.at(-1));
      }
    });
  }

  async close(): Promise<void> {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}
