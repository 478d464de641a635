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

  /** @param stage a pipeline stage's index: its reports are told apart from the other stages'. */
  issue(requestId: string, leaseToken: number, stage?: number): string {
    const subject = stage === undefined ? `${leaseToken}` : `${leaseToken}-${stage}`;
    return `${subject}.${this.#mac(requestId, subject)}`;
  }

  /** The lease token (and stage) the progress token was issued for, or null if forged. */
  verify(requestId: string, token: string): { lease: number; stage: number | undefined } | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const subject = token.slice(0, dot);
    const m = /^(\d+)(?:-(\d+))?$/.exec(subject);
    if (!m) return null;
    const given = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.#mac(requestId, subject));
    if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
    return { lease: Number(m[1]), stage: m[2] === undefined ? undefined : Number(m[2]) };
  }

  #mac(id: string, subject: string): string {
    return createHmac('sha256', this.#secret).update(`${id}:${subject}`).digest('base64url');
  }
}
