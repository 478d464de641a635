/**
 * Who is calling: a client (API key), an operator (the admin key, or a
 * stored admin key with its role), or a worker (its token, for /internal
 * endpoints). Keys are compared by SHA-256 hash; the plain key is never
 * stored.
 *
 * Every API call authenticates, so what a hash belongs to is cached, but
 * for at most RECHECK_MS: a key revoked or expired on any instance stops
 * working everywhere within that time, whether or not the cluster's message
 * about it arrives (it clears the cache at once when it does). A key's last
 * use is written at most once a minute per instance.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { AllotError } from '../core/errors.ts';
import type { AdminRole, Client, KeyOwner, WorkerDef } from '../model.ts';
import type { Store } from '../store/store.ts';
import { hashSecret } from './ids.ts';
import type { Registry } from './registry.ts';

/** How long a key's owner is trusted from the cache before the store is asked again. */
export const RECHECK_MS = 500;
/** A key's last-used time is written at most this often (per instance). */
export const LAST_USED_EVERY_MS = 60_000;

/**
 * The token of an `Authorization: Bearer <token>` header, or null. The scheme
 * is case-insensitive (RFC 9110 section 11.1): `bearer` and `BEARER` work too.
 */
export function bearerToken(authorization: string | undefined): string | null {
  const m = authorization === undefined ? null : /^bearer[ \t]+(.+)$/i.exec(authorization);
  const token = m?.[1]?.trim();
  return token ? token : null;
}

export type Principal =
  | { readonly kind: 'client'; readonly client: Client; readonly keyId: string }
  /** keyId null: the admin key (ALLOT_ADMIN_KEY or generated), which is always role `admin`. */
  | { readonly kind: 'admin'; readonly role: AdminRole; readonly keyId: string | null }
  | { readonly kind: 'worker'; readonly worker: WorkerDef };

/** How an admin's changes are signed in the audit log: `admin` for the admin key, `admin:<key id>` for a stored one. */
export function actorOf(p: Principal): string {
  if (p.kind === 'admin') return p.keyId === null ? 'admin' : `admin:${p.keyId}`;
  return p.kind === 'client' ? `client:${p.client.id}` : `worker:${p.worker.name}`;
}

interface Cached {
  readonly key: KeyOwner;
  readonly checkedAt: number;
}

export class Auth {
  readonly #store: Store;
  readonly #registry: Registry;
  readonly #clock: Clock;
  readonly #adminHash: Buffer;
  readonly #byHash = new Map<string, Cached>();
  readonly #usedWritten = new Map<string, number>();
  readonly #onError: (err: unknown) => void;

  constructor(store: Store, registry: Registry, adminKeyHash: string, clock: Clock, onError: (err: unknown) => void = () => {}) {
    this.#store = store;
    this.#registry = registry;
    this.#clock = clock;
    this.#adminHash = Buffer.from(adminKeyHash, 'hex');
    this.#onError = onError;
  }

  /**
   * The principal for an Authorization header value, or null when the key is
   * unknown. An expired key is refused with UNAUTHORIZED saying when it expired.
   */
  async principal(authorization: string | undefined): Promise<Principal | null> {
    const key = bearerToken(authorization);
    if (!key) return null;
    const hash = hashSecret(key);
    const h = Buffer.from(hash, 'hex');
    if (h.length === this.#adminHash.length && timingSafeEqual(h, this.#adminHash)) return { kind: 'admin', role: 'admin', keyId: null };
    const worker = this.#registry.workerByTokenHash(hash);
    if (worker) return { kind: 'worker', worker };
    const now = this.#clock.now();
    let found = this.#byHash.get(hash);
    if (!found || now - found.checkedAt >= RECHECK_MS || now < found.checkedAt) {
      const owner = await this.#store.keyByHash(hash);
      if (!owner) {
        this.#byHash.delete(hash);
        return null;
      }
      found = { key: owner, checkedAt: now };
      this.#byHash.set(hash, found);
      if (owner.owner.kind === 'client') this.#registry.cacheClient(owner.owner.client);
    }
    const k = found.key;
    if (k.expiresAt !== null && now >= k.expiresAt) throw new AllotError('UNAUTHORIZED', `This key (${k.id}) expired at ${new Date(k.expiresAt).toISOString()}`);
    this.#used(k.id, now);
    if (k.owner.kind === 'admin') return { kind: 'admin', role: k.owner.role, keyId: k.id };
    const client = this.#registry.client(k.owner.client.id);
    if (!client) {
      this.#byHash.delete(hash);
      return null;
    }
    return { kind: 'client', client, keyId: k.id };
  }

  /** Forget every cached key (a key was revoked, here or, by the cluster's message, elsewhere). */
  forgetKeys(): void {
    this.#byHash.clear();
  }

  /** Drop cached keys of a deleted client. */
  forgetClient(id: string): void {
    for (const [h, c] of this.#byHash) if (c.key.owner.kind === 'client' && c.key.owner.client.id === id) this.#byHash.delete(h);
  }

  #used(id: string, now: number): void {
    const last = this.#usedWritten.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS && now >= last) return;
    this.#usedWritten.set(id, now);
    this.#store.markKeysUsed([id], now).catch((err: unknown) => this.#onError(err));
  }
}
