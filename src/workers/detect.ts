/**
 * Which protocol an HTTP worker speaks, from its GET /health: a worker that
 * reports `capabilities.protocol_version` 2.x with `supports_handshake` is a
 * legacy Orchestrator 2.0 worker; anything else that answers is direct HTTP.
 */
import { AllotError } from '../core/errors.ts';

/** @default 3 seconds */
const PROBE_TIMEOUT_MS = 3000;

export async function detectTransport(url: string): Promise<'http' | 'v2'> {
  let body: { capabilities?: { protocol_version?: unknown; supports_handshake?: unknown } };
  try {
    const r = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    body = (await r.json()) as typeof body;
  } catch (err) {
    throw new AllotError('VALIDATION_ERROR', `transport: not given, and ${url}/health did not answer to tell it (${(err as Error).message}); give "http", "v2" or "subprocess"`);
  }
  const caps = body.capabilities ?? {};
  return String(caps.protocol_version ?? '').startsWith('2') && caps.supports_handshake === true ? 'v2' : 'http';
}
