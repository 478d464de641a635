/**
 * wrangler.toml (what `npm run deploy:cf` deploys) declares the bindings the
 * Worker uses, and the runtime settings the tests and `npm run dev:cf` run
 * under: the same compatibility date and flags, every Durable Object class
 * SQLite-backed and exported by the entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKER_BINDINGS } from '../../src/cf/bindings.ts';
import { COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../../src/cf/build.ts';
import { ROOT } from '../helpers/proc.ts';

const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
const value = (key: string): string | undefined => new RegExp(`^${key}\\s*=\\s*(.+)$`, 'm').exec(toml)?.[1]?.trim();

test('wrangler.toml deploys the bundled entry with the compatibility settings the tests use', () => {
  assert.equal(value('main'), '"dist/cf/worker.mjs"');
  assert.equal(value('no_bundle'), 'true');
  assert.equal(value('compatibility_date'), JSON.stringify(COMPATIBILITY_DATE));
  assert.deepEqual(JSON.parse(value('compatibility_flags') ?? '[]'), [...COMPATIBILITY_FLAGS]);
});

test('wrangler.toml binds the D1 database and every Durable Object class the Worker uses, all SQLite-backed', () => {
  assert.match(toml, new RegExp(`\\[\\[d1_databases\\]\\]\\s*\\nbinding = "${WORKER_BINDINGS.d1}"`));
  const bound = [...toml.matchAll(/\[\[durable_objects\.bindings\]\]\s*\nname = "(\w+)"\s*\nclass_name = "(\w+)"/g)].map((m) => ({ binding: m[1], className: m[2] }));
  assert.deepEqual(bound, WORKER_BINDINGS.durableObjects.map((d) => ({ ...d })));
  const sqlite = JSON.parse(/new_sqlite_classes = (\[.*\])/.exec(toml)?.[1] ?? '[]') as string[];
  assert.deepEqual(sqlite.toSorted(), WORKER_BINDINGS.durableObjects.map((d) => d.className).toSorted());
  const entry = readFileSync(join(ROOT, 'src/cf/worker.ts'), 'utf8');
  for (const d of WORKER_BINDINGS.durableObjects) assert.match(entry, new RegExp(`export \\{ ${d.className} \\}`), `the entry exports ${d.className}`);
});
