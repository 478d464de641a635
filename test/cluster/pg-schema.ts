/**
 * A fresh PostgreSQL schema for one test (ALLOT_TEST_PG_URL), with the
 * cluster tables, and pools whose connections use it (search_path).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';

export const PG_URL = process.env.ALLOT_TEST_PG_URL;
/** node:test `skip` value: false when PostgreSQL is configured, else the reason. */
export const PG_SKIP: false | string = PG_URL ? false : 'ALLOT_TEST_PG_URL is not set';

export interface TestSchema {
  readonly name: string;
  readonly connection: pg.ClientConfig;
  pool(max?: number): pg.Pool;
  drop(): Promise<void>;
}

export async function testSchema(migrations: readonly string[] = ['0002_cluster.sql']): Promise<TestSchema> {
  const name = `allot_c_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  await admin.end();
  const connection: pg.ClientConfig = { connectionString: PG_URL, options: `-c search_path=${name}` };
  const pools: pg.Pool[] = [];
  const pool = (max = 4): pg.Pool => {
    const p = new pg.Pool({ ...connection, max });
    p.on('error', () => {});
    pools.push(p);
    return p;
  };
  const setup = pool(1);
  for (const m of migrations) await setup.query(readFileSync(new URL(`../../src/store/postgres/migrations/${m}`, import.meta.url), 'utf8'));
  return {
    name, connection, pool,
    async drop() {
      for (const p of pools) if (!p.ended) await p.end().catch(() => {});
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${name} CASCADE`);
      await c.end();
    },
  };
}
