/**
 * Who is calling: a client (API key), the operator (admin key), or a worker
 * (its token, for /internal endpoints). Keys are
 * compared by SHA-256 hash; the plain key is never stored. Lookups are
 * cached per hash, since every API call authenticates.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Client, WorkerDef } from '../model.ts';
import type { Store } from '../store/store.ts';
import { hashSecret } from './ids.ts';
import type { Registry } from './registry.ts';

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
  | { readonly kind: 'client'; readonly client: Client }
  | { readonly kind: 'admin' }
  | { readonly kind: 'worker'; readonly worker: WorkerDef };

export class Auth {
  readonly #store: Store;
  readonly #registry: Registry;
  readonly #adminHash: Buffer;
  readonly #clientByHash = new Map<string, string>();

  constructor(store: Store, registry: Registry, adminKeyHash: string) {
    this.#store = store;
    this.#registry = registry;
    this.#adminHash = Buffer.from(adminKeyHash, 'hex');
  }

  /** The principal for an Authorization header value, or null. */
  async principal(authorization: string | undefined): Promise<Principal | null> {
    const key = bearerToken(authorization);
    if (!key) return null;
    const hash = hashSecret(key);
    const h = Buffer.from(hash, 'hex');
    if (h.length === this.#adminHash.length && timingSafeEqual(h, this.#adminHash)) return { kind: 'admin' };
    const cachedId = this.#clientByHash.get(hash);
    if (cachedId) {
      const c = this.#registry.client(cachedId);
      if (c) return { kind: 'client', client: c };
      this.#clientByHash.delete(hash);
    }
    const worker = this.#registry.workerByTokenHash(hash);
    if (worker) return { kind: 'worker', worker };
    const client = await this.#store.clientByKeyHash(hash);
    if (!client) return null;
    this.#clientByHash.set(hash, client.id);
    this.#registry.cacheClient(client);
    return { kind: 'client', client };
  }

  /** Drop cached keys of a deleted client. */
  forgetClient(id: string): void {
    for (const [h, cid] of this.#clientByHash) if (cid === id) this.#clientByHash.delete(h);
  }
}
