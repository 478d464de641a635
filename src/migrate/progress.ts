/** How far the migration has come: requests per executing system and state (one grouped count in the store). */
import type { Store, SystemCounts } from '../store/store.ts';

export type { SystemCounts };

export function countBySystem(store: Store): Promise<SystemCounts> {
  return store.countBySystem();
}
