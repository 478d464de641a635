/**
 * The D1 store's schema (issue 12): the SQLite store's migrations, applied
 * to D1 in a local workerd (miniflare), once each even when several stores
 * migrate at once, giving the same tables and indexes as on SQLite.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Miniflare } from 'miniflare';
import { bundleForWorkers, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../../src/cf/build.ts';
import { splitStatements } from '../../src/store/d1/split.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { MigrationResult } from '../../src/store/store.ts';
import { ROOT } from '../helpers/proc.ts';

let mf: Miniflare;

before(async () => {
  const bundle = await bundleForWorkers({
    resolveDir: ROOT,
    contents: `
      import { migrateD1 } from './src/store/d1/migrate.ts';
      import { MIGRATIONS } from './src/store/d1/migrations.ts';
      export default {
        async fetch(request, env) {
          const url = new URL(request.url);
          if (url.pathname === '/list') return Response.json(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
          let db = env[url.searchParams.get('db')];
          // /late: a store that looked before another recorded each version (its check always finds nothing).
          if (url.pathname === '/late') {
            const real = db;
            db = {
              prepare: (q) => (q.startsWith('SELECT 1 AS x FROM schema_migrations') ? { bind: () => ({ first: async () => null }) } : real.prepare(q)),
              batch: (stmts) => real.batch(stmts),
            };
          }
          try {
            return Response.json(await migrateD1(db, MIGRATIONS));
          } catch (err) {
            return new Response(String(err?.stack ?? err), { status: 500 });
          }
        },
      };`,
  });
  mf = new Miniflare({
    compatibilityDate: COMPATIBILITY_DATE, compatibilityFlags: [...COMPATIBILITY_FLAGS],
    modules: [{ type: 'ESModule', path: 'entry.mjs', contents: bundle.code }],
    d1Databases: ['ONE', 'TWO', 'THREE'],
  });
});

after(async () => {
  await mf?.dispose();
});

async function migrate(db: string, path = '/migrate'): Promise<MigrationResult[]> {
  const r = await mf.dispatchFetch(`http://x${path}?db=${db}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as MigrationResult[];
}

/** The schema's objects (tables, indexes), their SQL with spaces collapsed. */
function schema(rows: Record<string, unknown>[]): string[] {
  return rows
    .filter((r) => !String(r.name).startsWith('sqlite_') && !String(r.name).startsWith('_cf_'))
    .map((r) => `${String(r.type)} ${String(r.name)}: ${String(r.sql).replace(/\s+/g, ' ').trim()}`)
    .toSorted();
}

const SCHEMA_SQL = "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name";

test('every SQLite migration is in the D1 list, in order', async () => {
  const files = readdirSync(join(ROOT, 'src/store/sqlite/migrations')).filter((f) => /^\d{4}_.+\.sql$/.test(f)).toSorted();
  const listed = (await (await mf.dispatchFetch('http://x/list')).json()) as { version: number; name: string }[];
  assert.deepEqual(listed, files.map((f) => ({ version: Number(f.slice(0, 4)), name: f.slice(5, -4) })));
});

test('migrate applies every migration once, in order; again, it skips them all', async () => {
  const first = await migrate('ONE');
  assert.ok(first.length >= 10);
  for (const m of first) assert.equal(m.status, 'applied', `${m.version} ${m.name}`);
  const second = await migrate('ONE');
  assert.deepEqual(second, first.map((m) => ({ ...m, status: 'skipped' })));
});

test('three stores migrating one D1 database at once apply each migration exactly once', async () => {
  const runs = await Promise.all([migrate('TWO'), migrate('TWO'), migrate('TWO')]);
  const versions = (runs[0] as MigrationResult[]).map((m) => m.version);
  for (const run of runs) assert.deepEqual(run.map((m) => m.version), versions);
  for (const v of versions) {
    assert.equal(runs.filter((run) => run.some((m) => m.version === v && m.status === 'applied')).length, 1, `migration ${v} applied by exactly one store`);
  }
});

test('a store that checked before another applied a migration finds the version taken and skips it, changing nothing', async () => {
  const first = await migrate('ONE');
  const late = await migrate('ONE', '/late');
  assert.deepEqual(late, first.map((m) => ({ ...m, status: 'skipped' })));
  const d1 = await mf.getD1Database('ONE');
  assert.equal((await d1.prepare('SELECT COUNT(*) AS n FROM schema_migrations').first<{ n: number }>())?.n, first.length);
});

test('the D1 schema is the SQLite store\'s: the same tables and indexes', async () => {
  await migrate('THREE');
  const d1 = await mf.getD1Database('THREE');
  const onD1 = schema((await d1.prepare(SCHEMA_SQL).all()).results as Record<string, unknown>[]);
  const dir = await mkdtemp(join(tmpdir(), 'allot-d1-schema-'));
  try {
    const store = new SqliteStore(join(dir, 'allot.db'));
    await store.migrate();
    await store.close();
    const db = new DatabaseSync(join(dir, 'allot.db'), { readOnly: true });
    const onSqlite = schema(db.prepare(SCHEMA_SQL).all() as Record<string, unknown>[]);
    db.close();
    assert.deepEqual(onD1, onSqlite);
    assert.ok(onD1.some((s) => s.startsWith('table requests:')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a migration file splits into its statements; a trigger stays whole', () => {
  const sql = `-- a comment
CREATE TABLE a (x INTEGER); -- trailing
CREATE INDEX a_x
  ON a (x);

CREATE TRIGGER t BEFORE INSERT ON a BEGIN
  SELECT RAISE(ABORT, 'no') WHERE NEW.x < 0;
END;
INSERT INTO a VALUES (1);`;
  assert.deepEqual(splitStatements(sql), [
    'CREATE TABLE a (x INTEGER); -- trailing',
    'CREATE INDEX a_x\n  ON a (x);',
    "CREATE TRIGGER t BEFORE INSERT ON a BEGIN\n  SELECT RAISE(ABORT, 'no') WHERE NEW.x < 0;\nEND;",
    'INSERT INTO a VALUES (1);',
  ]);
});
