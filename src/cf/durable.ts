/**
 * The little of the Durable Object runtime Allot's objects use, typed here
 * structurally (so that they also load in Node, and no Workers type package
 * is needed): an object's state with its transactional storage.
 */

/** SQLite storage of a SQLite-backed Durable Object (`ctx.storage.sql`). */
export interface DurableSql {
  exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[]; readonly rowsWritten: number };
}

export interface DurableStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  readonly sql: DurableSql;
}

export interface DurableState {
  readonly storage: DurableStorage;
}

/** A Durable Object namespace binding, or miniflare's proxy of one. */
export interface DurableNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): DurableStubLike;
}

export interface DurableStubLike {
  fetch(url: string, init: { method: string; body: string; headers?: Record<string, string> }): Promise<{ ok: boolean; status: number; json(): Promise<unknown>; text(): Promise<string> }>;
}

/** A JSON answer. */
export function reply(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
