/** What the store contract (store-contract.ts) needs of a backend: fresh databases, reopened and shared as processes would. */
import type { Store } from '../../src/store/store.ts';

export interface BackendHandle {
  /** The store under test, not yet migrated (after `reopen`, the reopened one). */
  readonly store: Store;
  /** Close the store and open a new one on the same database, as a restarted process would. */
  reopen(): Promise<Store>;
  /**
   * A second store on the same database, open alongside the first (another
   * connection, as another process would have): it sees only what is committed.
   * Closed by `cleanup`.
   */
  peer(): Promise<Store>;
  /** Close the store and drop the database. */
  cleanup(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** true, or the reason the backend cannot run here (the suite reports it as skipped). */
  available(): boolean | string;
  /** A fresh, empty, unmigrated database. */
  create(): Promise<BackendHandle>;
  /**
   * Areas of the contract (its describe blocks, by name) this backend does not have yet, each with the reason:
   * reported as skipped with it, never as passed. A backend being built (issue 12's D1 store) lists them.
   */
  readonly unbuilt?: ReadonlyMap<string, string>;
}

/** node:test `skip` option for a backend: false when it can run, else the reason. */
export function skipReason(backend: Backend): false | string {
  const a = backend.available();
  if (a === true) return false;
  return a === false ? `${backend.name} is not available` : a;
}
