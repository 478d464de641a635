/**
 * Runs inside workerd (test/cf/store-d1.test.ts bundles it into a Worker
 * with a D1 database bound as DB): the store contract against the D1 store,
 * store and database both in workerd, as on Cloudflare. Each test starts
 * from an empty, unmigrated database (every table dropped).
 */
import { D1Store } from '../../src/store/d1/d1-store.ts';
import type { D1Like } from '../../src/store/d1/context.ts';
import type { Store } from '../../src/store/store.ts';
import { storeContract } from '../contract/store-contract.ts';
import type { Backend } from '../contract/store-harness.ts';
import { workerdEnv } from './workerd-env.ts';

async function empty(db: D1Like): Promise<void> {
  const tables = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
  const drops = tables.results.map((t) => db.prepare(`DROP TABLE IF EXISTS "${t.name.replace(/"/g, '""')}"`));
  if (drops.length) await db.batch(drops);
  const seq = await db.prepare("SELECT 1 AS x FROM sqlite_master WHERE name = 'sqlite_sequence'").first();
  if (seq) await db.prepare('DELETE FROM sqlite_sequence').run();
}

const d1: Backend = {
  name: 'd1',
  available: () => true,
  async create() {
    const db = workerdEnv().DB as D1Like;
    await empty(db);
    let store: Store = new D1Store(db);
    return {
      get store() {
        return store;
      },
      async reopen() {
        await store.close();
        store = new D1Store(db);
        return store;
      },
      async peer() {
        return new D1Store(db);
      },
      async cleanup() {
        await store.close();
      },
    };
  },
};

storeContract(d1);
