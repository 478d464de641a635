/**
 * Which protocol an HTTP worker speaks, from its GET /health: a worker that
 * reports `capabilities.protocol_version` 2.x with `supports_handshake` is a
 * legacy Orchestrator 2.0 worker; anything else that answers is direct HTTP.
 * Used when a worker is registered without a transport, and again on every
 * health probe (src/workers/health.ts).
 */
import { AllotError } from '../core/errors.ts';
import { redactUrl } from '../core/redact.ts';
import { workerRequest } from './worker-request.ts';

/** @default 3 seconds */
const PROBE_TIMEOUT_MS = 3000;

export interface HealthBody {
  readonly status?: unknown;
  readonly capabilities?: { readonly protocol?: unknown; readonly protocol_version?: unknown; readonly supports_handshake?: unknown };
}

/** Whether a /health body says the worker serves the v2 handshake (it may serve the direct protocol as well). */
export function claimsV2Handshake(body: HealthBody): boolean {
  const caps = body.capabilities ?? {};
  return String(caps.protocol_version ?? '').startsWith('2') && caps.supports_handshake === true;
}

/**
 * The protocol a /health body claims. An SDK worker serving both protocols
 * (`capabilities.protocol: "allot-direct/1"` next to the v2 fields) is driven
 * by the direct one.
 */
export function transportFromHealth(body: HealthBody): 'http' | 'v2' {
  if (String(body.capabilities?.protocol ?? '').startsWith('allot-direct/')) return 'http';
  return claimsV2Handshake(body) ? 'v2' : 'http';
}

/**
 * GET `<url>/health`: its HTTP status and its body when that is a JSON
 * object (else null). Throws when the worker does not answer within
 * `timeoutMs` (or `signal` aborts), and on a redirect, which is not followed.
 */
export async function fetchHealth(url: string, opts: { timeoutMs?: number; token?: string | undefined; signal?: AbortSignal } = {}): Promise<{ httpStatus: number; body: HealthBody | null }> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? PROBE_TIMEOUT_MS);
  const target = workerRequest(url, '/health', opts.token);
  const r = await fetch(target.url, {
    headers: target.headers,
    signal: opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout,
    // A worker is where it was registered: a redirect could send its token, and Allot's trust, anywhere.
    redirect: 'manual',
  });
  if (r.status >= 300 && r.status < 400) {
    await r.body?.cancel();
    throw new Error(`answered a redirect (HTTP ${r.status}${r.headers.get('location') ? ` to ${r.headers.get('location')}` : ''}); Allot does not follow redirects: register the worker at its own address`);
  }
  // Not JSON is an answer (null); a body cut off by the timeout is not.
  const body = (await r.json().catch((err: unknown) => {
    if (err instanceof SyntaxError) return null;
    throw err;
  })) as unknown;
  return { httpStatus: r.status, body: body && typeof body === 'object' && !Array.isArray(body) ? (body as HealthBody) : null };
}

export async function detectTransport(url: string): Promise<'http' | 'v2'> {
  let body: HealthBody | null;
  try {
    ({ body } = await fetchHealth(url));
    if (!body) throw new Error('its body is not a JSON object');
  } catch (err) {
    throw new AllotError('VALIDATION_ERROR', `transport: not given, and ${redactUrl(new URL('/health', url).toString())} did not answer to tell it (${(err as Error).message}); give "http", "v2" or "subprocess"`);
  }
  return transportFromHealth(body);
}
