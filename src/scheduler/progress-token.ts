/**
 * Tokens a worker presents when it posts progress for a request: bound to
 * the request id and its lease token by an HMAC, so a worker can report only
 * for the run it was given, and a stale run is fenced out by the store.
 */
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

export class ProgressTokens {
  /** A KeyObject, so the key is not re-imported for every token. */
  readonly #secret: KeyObject;

  constructor(secret: Buffer = randomBytes(32)) {
    this.#secret = createSecretKey(secret);
  }

  issue(requestId: string, leaseToken: number): string {
    return `${leaseToken}.${this.#mac(requestId, leaseToken)}`;
  }

  /** The lease token the progress token was issued for, or null if forged. */
  verify(requestId: string, token: string): number | null {
    const dot = token.indexOf('.');
    const lease = Number(token.slice(0, dot));
    if (dot <= 0 || !Number.isInteger(lease)) return null;
    const given = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.#mac(requestId, lease));
    return given.length === want.length && timingSafeEqual(given, want) ? lease : null;
  }

  #mac(id: string, lease: number): string {
    return createHmac('sha256', this.#secret).update(`${id}:${lease}`).digest('base64url');
  }
}
