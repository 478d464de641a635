/** Identifiers and secrets. */
import { createHash, timingSafeEqual, randomBytes, randomUUID } from 'node:crypto';

/**
 * A UUIDv7: 48 bits of milliseconds then randomness, so ids sort by
 * creation time (useful for listings and for B-tree locality).
 */
export function uuidv7(now: number = Date.now()): string {
  // randomUUID draws from a pooled entropy buffer: far cheaper per id than randomBytes(16).
  const r = randomUUID();
  const ts = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${r.slice(15)}`;
}

export function clientId(): string {
  return `cl_${randomBytes(9).toString('base64url')}`;
}

/** A new secret: shown once, stored as `hashSecret(key)`. */
export function newSecret(prefix: 'ak' | 'adm' | 'wk'): { key: string; hash: string; prefix: string } {
  const key = `${prefix}_${randomBytes(24).toString('base64url')}`;
  return { key, hash: hashSecret(key), prefix: key.slice(0, prefix.length + 7) };
}

/** Keys are long random strings, so a fast hash is enough (no password stretching needed). */
export function hashSecret(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Two hex digests compared in constant time. */
export function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Stable hash of a JSON value with keys sorted, for Idempotency-Key body comparison. */
export function bodyHash(v: unknown): string {
  return createHash('sha256').update(canonical(v)).digest('hex');
}

/** JSON with object keys sorted: equal values give equal strings. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .toSorted()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The result-cache key of a request: template, normalized input (keys sorted,
 * strings trimmed, runs of white space folded), the parameters that change
 * the output, the model and max_tokens.
 */
export function cacheKey(template: string, input: unknown, parameters: unknown, model: string | undefined, maxTokens: number): string {
  return createHash('sha256').update(canonical({ t: template, i: normalize(input), p: parameters, m: model ?? null, x: maxTokens })).digest('hex');
}

function normalize(v: unknown): unknown {
  if (typeof v === 'string') return v.trim().replace(/\s+/g, ' ');
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}
