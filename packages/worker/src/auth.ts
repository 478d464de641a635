import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an Authorization header carries `expected` as its bearer token.
 * The scheme is case-insensitive (RFC 9110: `bearer` works as `Bearer`); the
 * tokens are compared in constant time (as SHA-256 digests, so their lengths
 * do not leak either).
 */
export function bearerMatches(authorization: string | undefined, expected: string): boolean {
  const m = authorization === undefined ? null : /^bearer[ \t]+(.+)$/i.exec(authorization);
  const token = m?.[1]?.trim();
  if (!token) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(token), digest(expected));
}
