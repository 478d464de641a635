/**
 * The Orchestrator 2.0 handshake protocol (seed 001, SPEC section 6), so
 * legacy workers keep working unchanged:
 *   POST /api/handshake  → { status: 'ready' | 'incompatible', … }
 *   POST /api/process    → { success, output_ref, metrics: { tokens_used, … } }
 *   GET  /api/progress/{packet_id}, polled while processing
 *   POST /api/acknowledge once Allot has the result
 * Inputs of 1 KiB or more go by reference (the worker fetches them from
 * Allot's GET /api/data/{ref_id}); an `output_ref` of storage_type
 * 'reference' is read back from the worker's own GET /api/data/{ref_id}.
 * v2 workers report only `tokens_used`: it is counted as output tokens,
 * unless the answer also carries the standard `usage` (workers built with
 * the SDK do). Beyond the seed, the process call carries `attempt` and
 * `deadline_ms`, and every call (progress and read-back too) the worker's
 * token; legacy workers ignore what they do not know.
 */
import { randomUUID } from 'node:crypto';
import type { WorkerDef } from '../model.ts';
import type { References } from './references.ts';
import { abortOutcome, failure, parseUsage, type DispatchContext, type Job, type Transport, type WorkerOutcome } from './transport.ts';
import { redactUrl } from '../core/redact.ts';
import { workerRequest } from './worker-request.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../config/bounds.ts';

/** How often progress is polled while a v2 worker processes. @default 500 ms */
const PROGRESS_POLL_MS = 500;

/** `path` on the worker, with its token (or its URL's user and password: src/workers/worker-request.ts). */
const call = (w: WorkerDef, path: string, init: RequestInit): Promise<Response> => {
  const t = workerRequest(w.url as string, path, w.token);
  return fetch(t.url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...t.headers }, redirect: 'manual' });
};

export class V2Transport implements Transport {
  readonly #refs: References;

  constructor(refs: References) {
    this.#refs = refs;
  }

  async #post(w: WorkerDef, path: string, body: unknown, signal: AbortSignal): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await call(w, path, { method: 'POST', signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status >= 300 && r.status < 400) {
      await r.body?.cancel();
      throw new Error(`POST ${path} answered a redirect (HTTP ${r.status}); Allot does not follow redirects`);
    }
    const text = await r.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // Reported below as a malformed answer.
    }
    return { status: r.status, body: parsed };
  }

  async dispatch(w: WorkerDef, job: Job, ctx: DispatchContext): Promise<WorkerOutcome> {
    if (!w.url) return failure('WORKER_UNAVAILABLE', `Worker "${w.name}" has no url`, false);
    const packetId = `pkt_${randomUUID()}`;
    const base = { packet_id: packetId, execution_id: job.request_id, stage_id: `${job.template}:${job.stage}` };
    // The handshake and the input reference take time out of the job's: the process call says what is left.
    const t0 = performance.now();
    const timeLeft = (): number => Math.max(0, Math.round(job.timeout_ms - (performance.now() - t0)));
    try {
      const inputRef = ctx.inputRef ?? (await this.#refs.make(job.request_id, w.name, job.input));
      const hs = await this.#post(w, '/api/handshake', { ...base, input_ref: inputRef }, ctx.signal);
      if (hs.status >= 500) return failure('WORKER_ERROR', `Worker "${w.name}" handshake answered HTTP ${hs.status}`, true);
      if (hs.body.success === false) {
        const e = (hs.body.error ?? {}) as { code?: unknown; message?: unknown; retryable?: unknown };
        return failure(typeof e.code === 'string' ? e.code : 'WORKER_ERROR', `Worker "${w.name}" refused the handshake (HTTP ${hs.status}): ${typeof e.message === 'string' ? e.message : 'no message'}`, e.retryable === true);
      }
      if (hs.body.status !== 'ready') return failure('WORKER_INCOMPATIBLE', `Worker "${w.name}" declined the job at handshake (${String(hs.body.status ?? 'no status')})`, false);
      const calls = (hs.body.resource_requirements as { api_calls?: unknown } | undefined)?.api_calls;
      if (calls && typeof calls === 'object' && ctx.onRequirements) {
        const declared: Record<string, number> = {};
        for (const [k, v] of Object.entries(calls as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v) && v > 0) declared[k] = v;
        ctx.onRequirements(declared);
      }

      const poll = setInterval(() => {
        void call(w, `/api/progress/${packetId}`, { signal: ctx.signal })
          .then((r) => r.json() as Promise<{ progress?: unknown; stage?: unknown; message?: unknown }>)
          .then((p) => {
            if (typeof p.progress === 'number') ctx.onProgress(p.progress, typeof p.message === 'string' ? p.message : typeof p.stage === 'string' ? p.stage : undefined);
          })
          .catch(() => {});
      }, PROGRESS_POLL_MS);
      let res: { status: number; body: Record<string, unknown> };
      try {
        res = await this.#post(w, '/api/process', { ...base, input_ref: inputRef, parameters: job.parameters, attempt: job.attempt, deadline_ms: job.deadline_ms, timeout_ms: timeLeft() }, ctx.signal);
      } finally {
        clearInterval(poll);
      }
      const metrics = (res.body.metrics ?? {}) as { tokens_used?: unknown };
      const tokens = typeof metrics.tokens_used === 'number' && metrics.tokens_used > 0 ? metrics.tokens_used : 0;
      const usage = parseUsage(res.body.usage) ?? { tokens: { input: 0, output: tokens }, resources: {} };
      let outcome: WorkerOutcome;
      if (res.status >= 500) outcome = failure('WORKER_ERROR', `Worker "${w.name}" process answered HTTP ${res.status}`, true, usage);
      else if (res.body.success !== true) {
        const e = (res.body.error ?? {}) as { code?: unknown; message?: unknown; retryable?: unknown };
        outcome = failure(typeof e.code === 'string' ? e.code : 'WORKER_ERROR', typeof e.message === 'string' ? e.message : 'The v2 worker reported a failure', e.retryable === true, usage);
      } else {
        const ref = (res.body.output_ref ?? {}) as { storage_type?: unknown; inline_data?: unknown; ref_id?: unknown };
        let output: unknown = ref.inline_data ?? null;
        if (ref.storage_type === 'reference' && typeof ref.ref_id === 'string') {
          const r = await call(w, `/api/data/${encodeURIComponent(ref.ref_id)}`, { signal: ctx.signal });
          if (!r.ok) return failure('WORKER_ERROR', `Worker "${w.name}" output ${ref.ref_id} could not be read back (HTTP ${r.status})`, true, usage);
          output = await r.json();
        }
        outcome = nestedDeeperThan(output, MAX_JSON_DEPTH)
          ? failure('WORKER_ERROR', `Worker "${w.name}" answered an output nested more than ${MAX_JSON_DEPTH} deep`, false, usage)
          : { ok: true, output, usage, metadata: { protocol: 'v2', packet_id: packetId } };
      }
      // Acknowledge; a worker that does not answer it does not change the outcome.
      await this.#post(w, '/api/acknowledge', { ...base, success: outcome.ok, ...(outcome.ok ? {} : { error: outcome.error }) }, ctx.signal).catch(() => undefined);
      return outcome;
    } catch (err) {
      if (ctx.signal.aborted) return abortOutcome(ctx.signal);
      return failure('WORKER_UNAVAILABLE', `Worker "${w.name}" at ${redactUrl(w.url)}: ${(err as Error).message}`, true);
    }
  }

  async close(): Promise<void> {}
}
