/**
 * The storage backends the store contract suite (test/contract) runs
 * against. Every backend must pass the same suite.
 *
 * Environment:
 * - `ALLOT_TEST_BACKENDS`: comma list of backend names to run (default: all).
 * - `ALLOT_KEEP_TEST_DB`: keep the SQLite files and PostgreSQL schemas of the run and log where they are.
 * - `ALLOT_TEST_PG_URL`: PostgreSQL connection URL for the `postgres` backend.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import type { Backend, BackendHandle } from '../contract/store-harness.ts';

export type { Backend, BackendHandle } from '../contract/store-harness.ts';

const sqliteFile: Backend = {
  name: 'sqlite-file',
  available: () => true,
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'allot-store-'));
    const path = join(dir, 'allot.db');
    let store: Store = new SqliteStore(path);
    const peers: Store[] = [];
    return {
      get store() {
        return store;
      },
      async reopen() {
        await store.close();
        store = new SqliteStore(path);
        return store;
      },
      async peer() {
        const p = new SqliteStore(path);
        peers.push(p);
        return p;
      },
      async cleanup() {
        for (const p of peers) await p.close();
        await store.close();
        if (process.env.ALLOT_KEEP_TEST_DB) console.log(`# kept test database ${path}`);
        else await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * A PostgreSQL store on a fresh schema of `url` (`allot_t_<random>`), so that
 * tests running at the same time never see each other's rows; cleanup drops
 * it (kept with ALLOT_KEEP_TEST_DB).
 */
async function postgresHandle(url: string): Promise<BackendHandle> {
  const schema = `allot_t_${randomBytes(6).toString('hex')}`;
  const open = (): PostgresStore => new PostgresStore({ url, schema, poolSize: 4, applicationName: 'allot-test' });
  let store: Store = open();
  const peers: Store[] = [];
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = open();
      return store;
    },
    async peer() {
      const p = open();
      peers.push(p);
      return p;
    },
    async cleanup() {
      for (const p of peers) await p.close();
      await store.close();
      if (process.env.ALLOT_KEEP_TEST_DB) {
        console.log(`# kept test schema ${schema}`);
        return;
      }
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

const postgres: Backend = {
  name: 'postgres',
  available() {
    if (!process.env.ALLOT_TEST_PG_URL) return 'ALLOT_TEST_PG_URL is not set';
    return true;
  },
  async create() {
    const url = process.env.ALLOT_TEST_PG_URL;
    if (!url) throw new Error(`postgres backend is not available: ${String(this.available())}`);
    return postgresHandle(url);
  },
};

const ALL_BACKENDS: readonly Backend[] = [sqliteFile, postgres];

function selected(): Backend[] {
  const list = process.env.ALLOT_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!list?.length) return [...ALL_BACKENDS];
  const unknown = list.filter((n) => !ALL_BACKENDS.some((b) => b.name === n));
  if (unknown.length) {
    throw new Error(`ALLOT_TEST_BACKENDS names unknown backends: ${unknown.join(', ')} (known: ${ALL_BACKENDS.map((b) => b.name).join(', ')})`);
  }
  return ALL_BACKENDS.filter((b) => list.includes(b.name));
}

export const BACKENDS: readonly Backend[] = selected();
