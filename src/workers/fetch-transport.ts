/**
 * Direct HTTP transport over `fetch`, for runtimes without node:http
 * (Cloudflare Workers): the same job body, headers, limits and outcomes as
 * HttpTransport (http-transport.ts), which stays Node's choice because it
 * costs less per call there. test/workers/push-transports.test.ts runs the
 * same cases against both.
 */
import type { WorkerDef } from '../model.ts';
import { redactUrl } from '../core/redact.ts';
import { abortOutcome, batchOutcomes, bodyBytes, failure, jobJson, parseStandardResponse, type DispatchContext, type Job, type Transport, type WorkerOutcome } from './transport.ts';

const isJob = (p: unknown): p is Job => typeof p === 'object' && p !== null && 'request_id' in p && 'input' in p;

/** Worker answers larger than this are refused (as HttpTransport). */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

type Raw = { ok: true; body: unknown; status: number } | { ok: false; outcome: WorkerOutcome };

export class FetchTransport implements Transport {
  readonly #fetch: typeof fetch;

  /** @param fetchImpl the runtime's fetch (a Worker may pass a service binding's) */
  constructor(fetchImpl: typeof fetch = (input, init) => fetch(input, init)) {
    this.#fetch = fetchImpl;
  }

  /** Several jobs as one call, as HttpTransport.dispatchBatch. */
  async dispatchBatch(w: WorkerDef, jobs: readonly Job[], ctx: DispatchContext): Promise<WorkerOutcome[]> {
    return batchOutcomes(w, jobs, await this.#post(w, { batch: jobs }, jobs[0]?.request_id ?? '', ctx));
  }

  async dispatch(w: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome> {
    const r = await this.#post(w, job, job.request_id, ctx);
    return r.ok ? parseStandardResponse(r.body, r.status) : r.outcome;
  }

  async #post(w: WorkerDef, payload: unknown, requestId: string, ctx: DispatchContext): Promise<Raw> {
    if (!w.url) return { ok: false, outcome: failure('WORKER_UNAVAILABLE', `Worker "${w.name}" has no url`, false) };
    if (ctx.signal.aborted) return { ok: false, outcome: abortOutcome(ctx.signal) };
    const body = isJob(payload) ? jobJson(payload) : JSON.stringify(payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(bodyBytes(body)), 'x-allot-request-id': requestId };
    if (w.token) headers.authorization = `Bearer ${w.token}`;
    let res: Response;
    try {
      res = await this.#fetch(w.url, { method: 'POST', headers, body: typeof body === 'string' ? body : new Blob(body), signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) return { ok: false, outcome: abortOutcome(ctx.signal) };
      const why = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      return { ok: false, outcome: failure('WORKER_UNAVAILABLE', `Worker "${w.name}" at ${redactUrl(w.url)}: ${why}`, true) };
    }
    const status = res.status;
    let text: string;
    try {
      text = await readLimited(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (ctx.signal.aborted) return { ok: false, outcome: abortOutcome(ctx.signal) };
      if (err instanceof TooLarge) return { ok: false, outcome: failure('WORKER_ERROR', `Worker "${w.name}" answered more than ${MAX_RESPONSE_BYTES} bytes`, false) };
      return { ok: false, outcome: failure('WORKER_UNAVAILABLE', `Worker "${w.name}": ${(err as Error).message}`, true) };
    }
    try {
      return { ok: true, body: JSON.parse(text), status };
    } catch {
      return { ok: false, outcome: failure('WORKER_ERROR', `Worker "${w.name}" answered HTTP ${status} with a body that is not JSON`, status >= 500 || status === 200) };
    }
  }

  async close(): Promise<void> {}
}

class TooLarge extends Error {}

/** The body as text, refusing (TooLarge) past `max` bytes without reading the rest. */
async function readLimited(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new TooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
