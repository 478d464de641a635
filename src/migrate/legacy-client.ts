/**
 * HTTP client for Orchestrator v2's execution API:
 *
 *   POST /api/execute            { template_name, client_id, input, parameters, priority, request_id, wait? }
 *                                → 202 { execution_id, status }  (200 with the execution when `wait`)
 *   GET  /api/executions/{id}    → { execution_id, status: queued|running|completed|failed|cancelled,
 *                                    output, cost_usd, usage?, started_at, completed_at, error }
 *   POST /api/executions/{id}/cancel
 *
 * `request_id` is Allot's request id: v2 answers a repeated submit with the
 * execution it already has, so a submit retried after a crash or a lost
 * answer does not run the work twice.
 */
import type { Usage } from '../core/cost.ts';

export interface LegacySubmit {
  readonly requestId: string;
  readonly template: string;
  readonly clientId: string;
  readonly input: unknown;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly priority: string;
  /** Ask v2 to answer only once the execution has ended. */
  readonly wait?: boolean;
}

export type LegacyStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface LegacyExecution {
  readonly executionId: string;
  readonly status: LegacyStatus;
  readonly output: unknown;
  readonly costUsd: number;
  readonly usage: Usage | null;
  readonly startedAt: number | null;
  readonly completedAt: number | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export class LegacyError extends Error {
  /** Worth trying again (connection refused, timeout, 5xx, 429). */
  readonly retryable: boolean;
  readonly status: number | null;
  constructor(message: string, retryable: boolean, status: number | null) {
    super(message);
    this.name = 'LegacyError';
    this.retryable = retryable;
    this.status = status;
  }
}

export const isTerminalLegacy = (s: LegacyStatus): boolean => s === 'completed' || s === 'failed' || s === 'cancelled';

const STATUSES: ReadonlySet<string> = new Set(['queued', 'running', 'completed', 'failed', 'cancelled']);

function time(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

function toUsage(v: unknown): Usage | null {
  const u = v as { tokens?: { input?: unknown; output?: unknown }; resources?: unknown } | null;
  if (!u || typeof u !== 'object' || !u.tokens) return null;
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);
  const resources = u.resources && typeof u.resources === 'object' ? Object.fromEntries(Object.entries(u.resources).map(([k, x]) => [k, n(x)])) : {};
  return { tokens: { input: n(u.tokens.input), output: n(u.tokens.output) }, resources };
}

/** Read v2's execution body; throws a non-retryable LegacyError when it is not one. */
export function parseExecution(body: unknown): LegacyExecution {
  const b = body as Record<string, unknown> | null;
  const id = b?.execution_id;
  const status = typeof b?.status === 'string' ? b.status.toLowerCase() : '';
  if (typeof id !== 'string' || !STATUSES.has(status)) throw new LegacyError(`v2 answered something that is not an execution: ${JSON.stringify(body).slice(0, 200)}`, false, null);
  const cost = Number(b?.cost_usd ?? 0);
  const err = b?.error as { code?: unknown; message?: unknown } | string | null | undefined;
  return {
    executionId: id, status: status as LegacyStatus, output: b?.output ?? null, costUsd: Number.isFinite(cost) && cost > 0 ? cost : 0, usage: toUsage(b?.usage),
    startedAt: time(b?.started_at), completedAt: time(b?.completed_at),
    error: !err ? null : typeof err === 'string' ? { code: 'V2_ERROR', message: err } : { code: String(err.code ?? 'V2_ERROR'), message: String(err.message ?? 'failed in Orchestrator v2') },
  };
}

export class LegacyClient {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #callTimeoutMs: number;

  /** @param callTimeoutMs one HTTP call gives up after this long (a `wait` submit: `waitTimeoutMs`). */
  constructor(base: string, opts: { token?: string | undefined; callTimeoutMs: number }) {
    this.#base = base.replace(/\/+$/, '');
    this.#token = opts.token;
    this.#callTimeoutMs = opts.callTimeoutMs;
  }

  get url(): string {
    return this.#base;
  }

  async submit(s: LegacySubmit, signal?: AbortSignal, waitTimeoutMs?: number): Promise<LegacyExecution> {
    const body = {
      template_name: s.template, client_id: s.clientId, input: s.input, parameters: s.parameters, priority: s.priority, request_id: s.requestId, ...(s.wait ? { wait: true } : {}),
    };
    const r = await this.#call('POST', '/api/execute', body, signal, s.wait ? waitTimeoutMs : undefined);
    if (r.status === 404) throw new LegacyError(`v2 answered 404 to POST /api/execute: no template "${s.template}" there (or legacy_url is not Orchestrator v2)`, false, 404);
    return parseExecution(r.body);
  }

  /** The execution, or null when v2 does not know it. */
  async get(executionId: string, signal?: AbortSignal): Promise<LegacyExecution | null> {
    const r = await this.#call('GET', `/api/executions/${encodeURIComponent(executionId)}`, undefined, signal);
    if (r.status === 404) return null;
    return parseExecution(r.body);
  }

  /** Best effort: true when v2 confirmed the cancel, false for any failure. */
  async cancel(executionId: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const r = await this.#call('POST', `/api/executions/${encodeURIComponent(executionId)}/cancel`, {}, signal);
      return r.status < 300;
    } catch {
      return false;
    }
  }

  async #call(method: string, path: string, body: unknown, signal: AbortSignal | undefined, timeoutMs = this.#callTimeoutMs): Promise<{ status: number; body: unknown }> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new LegacyError(`v2 ${method} ${path}: ${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}`, true, null);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text for the error message.
    }
    if (res.status === 404) return { status: 404, body: parsed };
    if (res.status >= 400) {
      const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new LegacyError(`v2 ${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, retryable, res.status);
    }
    return { status: res.status, body: parsed };
  }
}
