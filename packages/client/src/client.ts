/**
 * `AllotClient`: Allot's client API over the global `fetch` (Node >= 20,
 * browsers, Deno, Bun). Every method is one HTTP call except `wait`,
 * `events` and `executeAndWait`, which follow a request's event stream.
 * Failures reject with the classes in errors.ts.
 */
import { AllotError, AllotNetworkError, AllotTimeoutError, parseRetryAfter, type ErrorCode } from './errors.ts';
import { createSseParser } from './sse.ts';
import type {
  Accepted, BatchSubmitItem, BatchSubmitResult, CostEstimate, CurrentUsage, EstimateRequest, ExecuteRequest, Execution, ExecutionEvent,
  ExecutionList, ListOptions, QueuePosition, RequestCost, ResourceEstimate, SubmitRequest, Usage,
} from './types.ts';

export interface AllotClientOptions {
  /** Where Allot listens, e.g. `http://127.0.0.1:3000` (a path prefix is kept). */
  baseUrl: string | URL;
  /** A client API key, sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /**
   * How long one call may take before it fails with `AllotTimeoutError`, in ms.
   * `executeAndWait` adds its `wait_ms`; an event stream counts it until the stream opens.
   * @default 30 seconds
   */
  timeoutMs?: number;
  /** This key's client id: what `usage()` and `currentUsage()` use when given none. */
  clientId?: string;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
}

export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** This call's timeout in ms, instead of the client's. */
  timeoutMs?: number;
}

export interface SubmitOptions extends CallOptions {
  /** Sent as Idempotency-Key: a retry with the same key and body returns the original request instead of a new one. */
  idempotencyKey?: string;
}

export interface EventsOptions {
  signal?: AbortSignal;
  /**
   * Reopen the stream when it breaks off before its `end` event, at most this many times in a row
   * (waiting the stream's `retry`, else `reconnectDelayMs`). 0: never.
   * @default 5
   */
  maxReconnects?: number;
  /** @default 1 second */
  reconnectDelayMs?: number;
  /**
   * A stream that brings nothing for this long is taken as lost (a connection that died without
   * closing) and reopened. Allot sends a comment every 15 s on an idle stream.
   * @default 45 seconds
   */
  idleTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Three of Allot's 15 s keep-alive comments. */
const DEFAULT_IDLE_MS = 45_000;
/** The server's default wait for POST /api/execute. */
const SERVER_EXECUTE_WAIT_MS = 30_000;

interface Answer<T> {
  status: number;
  body: T;
}

interface Call extends CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
}

export class AllotClient {
  readonly #base: string;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #clientId: string | undefined;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: AllotClientOptions) {
    if (!options || typeof options.apiKey !== 'string' || options.apiKey === '') throw new TypeError('AllotClient: apiKey is required');
    const base = new URL(String(options.baseUrl));
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`AllotClient: baseUrl must be http(s), not ${base.protocol}`);
    this.#base = base.href.replace(/\/+$/, '');
    this.#key = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#clientId = options.clientId;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Queue a request (POST /api/queue/enqueue). `created` is false when the Idempotency-Key named an earlier request. */
  async submit(request: SubmitRequest, options: SubmitOptions = {}): Promise<Accepted> {
    const r = await this.#json<Omit<Accepted, 'created'>>('POST', '/api/queue/enqueue', { ...options, body: request, headers: idempotency(options) });
    return { ...r.body, created: r.status === 202 };
  }

  /** Queue up to 1000 requests at once (POST /api/queue/enqueue/batch): one result per item, in order; a refused item carries its own error. */
  async submitBatch(requests: BatchSubmitItem[], options: CallOptions = {}): Promise<BatchSubmitResult[]> {
    return (await this.#json<{ results: BatchSubmitResult[] }>('POST', '/api/queue/enqueue/batch', { ...options, body: { requests } })).body.results;
  }

  /**
   * Submit and wait for the end (POST /api/execute with `wait_ms`, then the
   * request's event stream if it is still running): the request as it ended,
   * COMPLETED with its output, FAILED with its error, or CANCELLED. A FAILED
   * request is returned, not thrown. Bound the whole wait with `signal`.
   * The first call's timeout is `timeoutMs` plus `wait_ms` (30 s when absent, as Allot).
   */
  async executeAndWait<Output = unknown>(request: ExecuteRequest, options: SubmitOptions = {}): Promise<Execution<Output>> {
    const timeoutMs = (options.timeoutMs ?? this.#timeoutMs) + (request.wait_ms ?? SERVER_EXECUTE_WAIT_MS);
    const r = await this.#json<Execution<Output> | Accepted>('POST', '/api/execute', { ...options, timeoutMs, body: request, headers: idempotency(options) });
    if (r.status === 200) return r.body as Execution<Output>;
    return this.wait<Output>(r.body.request_id, options.signal ? { signal: options.signal } : {});
  }

  /** A request as it stands: status, attempts, progress, output, error, usage and cost (GET /api/execution/{id}). */
  async status<Output = unknown>(requestId: string, options: CallOptions = {}): Promise<Execution<Output>> {
    return (await this.#json<Execution<Output>>('GET', `/api/execution/${enc(requestId)}`, options)).body;
  }

  /** This client's requests, newest first (GET /api/executions). */
  async list(filter: ListOptions = {}, options: CallOptions = {}): Promise<ExecutionList> {
    const status = Array.isArray(filter.status) ? filter.status.join(',') : filter.status;
    return (await this.#json<ExecutionList>('GET', '/api/executions', { ...options, query: { status, template: filter.template, limit: filter.limit, before: filter.before } })).body;
  }

  /** Where a queued request stands (GET /api/queue/position/{id}); `position` 1 is next. */
  async queuePosition(requestId: string, options: CallOptions = {}): Promise<QueuePosition> {
    return (await this.#json<QueuePosition>('GET', `/api/queue/position/${enc(requestId)}`, options)).body;
  }

  /** Cancel from any unfinished state (POST /api/execution/{id}/cancel); CONFLICT when it has already ended. */
  async cancel(requestId: string, options: CallOptions = {}): Promise<Execution> {
    return (await this.#json<Execution>('POST', `/api/execution/${enc(requestId)}/cancel`, options)).body;
  }

  /**
   * Follow a request (GET /api/execution/{id}/events, Server-Sent Events): a
   * `status` event first, `progress` as the worker reports it, `status` on
   * each change, and `end` with the final request, after which iteration
   * stops. A stream that breaks off is reopened (Allot then starts again with
   * the current status, so only progress reported in between can be missed).
   * Leaving the loop early closes the stream.
   */
  async *events<Output = unknown>(requestId: string, options: EventsOptions = {}): AsyncGenerator<ExecutionEvent<Output>, void, undefined> {
    const { signal } = options;
    const maxReconnects = options.maxReconnects ?? 5;
    let delayMs = options.reconnectDelayMs ?? 1_000;
    const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    let lastEventId = '';
    let failures = 0;
    const path = `/api/execution/${enc(requestId)}/events`;
    for (;;) {
      let broken: unknown;
      let res: Response | undefined;
      try {
        const sent = await this.#send('GET', path, { signal, headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
        // The timeout covers opening the stream, not how long it then runs.
        sent.clear();
        res = sent.res;
        if (!res.ok) throw this.#toError(res, await res.text(), 'GET', path);
        if (!/^text\/event-stream/i.test(res.headers.get('content-type') ?? '')) {
          await res.body?.cancel();
          throw new AllotNetworkError(`GET ${path}: expected text/event-stream, got ${res.headers.get('content-type') ?? 'no content-type'}`, { status: res.status });
        }
      } catch (err) {
        // Only a connection that failed is tried again; an answer (NOT_FOUND, UNAUTHORIZED) is final.
        if (!(err instanceof AllotNetworkError) || err.status !== undefined || failures >= maxReconnects) throw err;
        broken = err;
      }
      if (res && broken === undefined) {
        const parser = createSseParser();
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        let idle: ReturnType<typeof setTimeout> | undefined;
        let idled = false;
        // Cancelling the body closes the connection and ends the pending read.
        const watch = (): void => {
          clearTimeout(idle);
          idle = setTimeout(() => {
            idled = true;
            reader.cancel().catch(() => {});
          }, idleMs);
        };
        // The stream outlives the call's own abort wiring (#send's clear()): the caller's signal closes it here.
        const onAbort = (): void => void reader.cancel().catch(() => {});
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          watch();
          for (;;) {
            let chunk: Awaited<ReturnType<typeof reader.read>>;
            try {
              chunk = await reader.read();
            } catch (err) {
              if (signal?.aborted) throw signal.reason;
              broken = err;
              break;
            }
            if (chunk.done) break;
            watch();
            for (const m of parser.push(decoder.decode(chunk.value, { stream: true }))) {
              if (m.event !== 'status' && m.event !== 'progress' && m.event !== 'end') continue; // a kind this client does not know yet
              let data: unknown;
              try {
                data = JSON.parse(m.data);
              } catch (err) {
                throw new AllotNetworkError(`GET ${path}: a ${m.event} event whose data is not JSON`, { cause: err, status: res.status });
              }
              failures = 0;
              // Time the caller spends on an event is not the stream's.
              clearTimeout(idle);
              yield { event: m.event, data } as ExecutionEvent<Output>;
              if (m.event === 'end') return;
              watch();
            }
          }
        } finally {
          clearTimeout(idle);
          signal?.removeEventListener('abort', onAbort);
          reader.cancel().catch(() => {});
        }
        if (signal?.aborted) throw signal.reason;
        if (idled) broken = new AllotTimeoutError(`GET ${path}: the event stream brought nothing for ${idleMs} ms`, idleMs);
        lastEventId = parser.lastEventId || lastEventId;
        delayMs = parser.retryMs ?? delayMs;
        if (failures >= maxReconnects) {
          if (broken instanceof AllotTimeoutError) throw broken;
          throw new AllotNetworkError(`GET ${path}: the event stream ended before its end event`, broken === undefined ? {} : { cause: broken });
        }
      }
      failures++;
      await sleep(delayMs, signal);
    }
  }

  /** Follow a request until it ends; resolves with it as it ended (COMPLETED, FAILED or CANCELLED). */
  async wait<Output = unknown>(requestId: string, options: EventsOptions = {}): Promise<Execution<Output>> {
    for await (const e of this.events<Output>(requestId, options)) if (e.event === 'end') return e.data;
    throw new AllotNetworkError(`GET /api/execution/${requestId}/events ended without an end event`);
  }

  /** Spend per period and per template (GET /api/usage/{clientId}); `period` is YYYY-MM (default: every period). */
  async usage(clientId?: string, options: CallOptions & { period?: string } = {}): Promise<Usage> {
    return (await this.#json<Usage>('GET', `/api/usage/${enc(this.#client(clientId))}`, { ...options, query: { period: options.period } })).body;
  }

  /** This period's spend, holds, budget and remaining budget (GET /api/usage/{clientId}/current). */
  async currentUsage(clientId?: string, options: CallOptions = {}): Promise<CurrentUsage> {
    return (await this.#json<CurrentUsage>('GET', `/api/usage/${enc(this.#client(clientId))}/current`, options)).body;
  }

  /** What a request cost (GET /api/cost/{id}); `final` once it has ended. */
  async cost(requestId: string, options: CallOptions = {}): Promise<RequestCost> {
    return (await this.#json<RequestCost>('GET', `/api/cost/${enc(requestId)}`, options)).body;
  }

  /** A request's worst-case cost and whether the budget covers it, without submitting it (POST /api/cost/estimate). */
  async estimateCost(request: EstimateRequest, options: CallOptions = {}): Promise<CostEstimate> {
    return (await this.#json<CostEstimate>('POST', '/api/cost/estimate', { ...options, body: request })).body;
  }

  /** What a request would reserve and whether it fits now (POST /api/resources/estimate). */
  async estimateResources(request: EstimateRequest, options: CallOptions = {}): Promise<ResourceEstimate> {
    return (await this.#json<ResourceEstimate>('POST', '/api/resources/estimate', { ...options, body: request })).body;
  }

  #client(clientId: string | undefined): string {
    const id = clientId ?? this.#clientId;
    if (!id) throw new TypeError('AllotClient: pass a clientId, or set clientId in the options');
    return id;
  }

  async #json<T>(method: string, path: string, call: Call): Promise<Answer<T>> {
    const timeoutMs = call.timeoutMs ?? this.#timeoutMs;
    const { res, clear } = await this.#send(method, path, call);
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.#networkError(method, path, err, call.signal, timeoutMs);
    } finally {
      clear();
    }
    if (!res.ok) throw this.#toError(res, text, method, path);
    try {
      return { status: res.status, body: JSON.parse(text) as T };
    } catch (err) {
      throw new AllotNetworkError(`${method} ${path}: answered ${res.status} with a body that is not JSON`, { cause: err, status: res.status });
    }
  }

  /** Sends a call; resolves once the response headers are in, with `clear()` to end the timeout (which still covers reading the body). */
  async #send(method: string, path: string, call: Call): Promise<{ res: Response; clear: () => void }> {
    const timeoutMs = call.timeoutMs ?? this.#timeoutMs;
    const controller = new AbortController();
    const { signal } = call;
    if (signal?.aborted) throw signal.reason;
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new AllotTimeoutError(`${method} ${path}: no answer within ${timeoutMs} ms`, timeoutMs));
    }, timeoutMs);
    const clear = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const headers: Record<string, string> = { authorization: `Bearer ${this.#key}`, accept: 'application/json', ...call.headers };
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] = 'application/json';
    }
    let url = `${this.#base}${path}`;
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    if (qs) url += `?${qs}`;
    let res: Response;
    try {
      res = await this.#fetch(url, { method, headers, body, signal: controller.signal });
    } catch (err) {
      clear();
      if (timedOut) throw controller.signal.reason;
      throw this.#networkError(method, path, err, signal, timeoutMs);
    }
    return { res, clear };
  }

  #networkError(method: string, path: string, err: unknown, signal: AbortSignal | undefined, timeoutMs: number): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof AllotTimeoutError) return err;
    if (err instanceof Error && err.name === 'AbortError' && !signal?.aborted) return new AllotTimeoutError(`${method} ${path}: no answer within ${timeoutMs} ms`, timeoutMs);
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new AllotNetworkError(`${method} ${path}: ${err instanceof Error ? err.message : String(err)}${cause}`, { cause: err });
  }

  #toError(res: Response, text: string, method: string, path: string): Error {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const e = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    if (typeof e?.code !== 'string' || typeof e.message !== 'string') {
      return new AllotNetworkError(`${method} ${path}: answered ${res.status} ${res.statusText} without Allot's error envelope: ${text.slice(0, 200)}`, { status: res.status });
    }
    const details = e.details !== null && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined;
    return new AllotError({
      code: e.code as ErrorCode, status: res.status, message: e.message, details,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after')), requestId: res.headers.get('x-request-id') ?? undefined,
    });
  }
}

function idempotency(options: SubmitOptions): Record<string, string> {
  return options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey };
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
