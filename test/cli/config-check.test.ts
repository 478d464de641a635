/**
 * Configuration as issue 13 asks: JSON or YAML, `${NAME}` for secrets from
 * the environment, bad environment values named in one line each before
 * anything starts, and `allot config check` (a real child process) running
 * the check start-up runs on templates: a worker must be in the config or
 * in the database, which it reads without creating.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, resolveConfig } from '../../src/config/resolve.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Secrets } from '../../src/service/secrets.ts';
import { NODE, ROOT, tempDir } from '../helpers/proc.ts';

const dir = tempDir('allot-config-check-');
after(() => rmSync(dir, { recursive: true, force: true }));

const YAML = `# a YAML config
alerts:
  webhook_url: https://ops.example/hooks/allot
  webhook_secret: \${HOOK_SECRET}
workers:
  summarizer:
    transport: http
    url: http://127.0.0.1:9101/
    token: "\${SUMMARIZER_TOKEN}"
templates:
  summarize:
    worker: summarizer
`;

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

test('a YAML file is read like JSON, with ${NAME} taken from the environment', () => {
  const c = resolveConfig({ ALLOT_CONFIG: 'allot.yaml', HOOK_SECRET: 'hook-secret-0123', SUMMARIZER_TOKEN: 'tok-0123456789abcdef' }, () => YAML);
  assert.equal(c.alerts.webhookSecret, 'hook-secret-0123');
  assert.equal(c.workers.find((w) => w.name === 'summarizer')?.token, 'tok-0123456789abcdef');
  assert.equal(c.templates.find((t) => t.name === 'summarize')?.worker, 'summarizer');
});

test('a variable that is not set is named with its key; bad YAML says so', () => {
  assert.deepEqual(issuesOf(() => resolveConfig({ ALLOT_CONFIG: 'allot.yml', HOOK_SECRET: 'hook-secret-0123' }, () => YAML)), [
    'workers.summarizer.token: ${SUMMARIZER_TOKEN} is not set in the environment',
  ]);
  assert.match(issuesOf(() => resolveConfig({ ALLOT_CONFIG: 'allot.yaml' }, () => 'workers: [unclosed'))[0] ?? '', /ALLOT_CONFIG: cannot read "allot.yaml" as YAML/);
});

test('$${ stands for a literal ${', () => {
  const c = resolveConfig({ ALLOT_CONFIG: 'c.json' }, () => JSON.stringify({ server: { public_url: 'https://a.example/' }, alerts: { webhook_secret: 'pa$${x}ss-word' } }));
  assert.equal(c.alerts.webhookSecret, 'pa${x}ss-word');
});

test('bad environment values are each named in one line, before anything starts', () => {
  assert.deepEqual(issuesOf(() => resolveConfig({ ALLOT_LOG_LEVEL: 'verbose', ALLOT_PUBLIC_URL: 'notaurl' })), [
    'ALLOT_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    'ALLOT_PUBLIC_URL: must be an http(s) URL where workers reach Allot (e.g. https://allot.example.com), got "notaurl"',
  ]);
  const r = spawnSync(NODE, [join(ROOT, 'src/main.ts')], { env: { ...process.env, ALLOT_LOG_LEVEL: 'verbose', ALLOT_DB: join(dir, 'never.db'), ALLOT_PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'Invalid configuration (environment):\n  - ALLOT_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"', 'no stack trace');
  assert.equal(existsSync(join(dir, 'never.db')), false);
});

test('allot config check names a template whose worker is in neither the config nor the database; one in the database is fine', async () => {
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ templates: { ask: { worker: 'registered-by-api' } } }));
  const db = join(dir, 'allot.db');
  const check = () => spawnSync(NODE, [join(ROOT, 'bin/allot.ts'), 'config', 'check'], { env: { ...process.env, ALLOT_CONFIG: file, ALLOT_DB: db }, encoding: 'utf8', timeout: 30_000 });
  const before = check();
  assert.equal(before.status, 2, before.stdout + before.stderr);
  assert.match(before.stderr, /templates\.ask\.worker: no worker named "registered-by-api" in the config or the database/);
  assert.equal(existsSync(db), false, 'checking creates no database');

  const store = new SqliteStore(db);
  await store.migrate();
  await store.putWorker({ name: 'registered-by-api', transport: 'http', url: 'http://127.0.0.1:9/', maxConcurrency: 1, capabilities: [], source: 'api' }, 'test');
  await store.close();
  const later = check();
  assert.equal(later.status, 0, later.stderr);
  assert.match(later.stdout, /configuration OK/);
});

test('allot config check opens the stored worker tokens with the key start-up would use, and names ALLOT_SECRET_KEY when it cannot', async () => {
  const sub = tempDir('allot-config-secret-');
  const db = join(sub, 'allot.db');
  const A = 'secret-key-A-0123456789abcdef0123';
  const store = new SqliteStore(db);
  await store.migrate();
  const token = Secrets.load({ secretKey: A, dbPath: db }).seal('worker-token-0123456789');
  await store.putWorker({ name: 'sealed', transport: 'http', url: 'http://127.0.0.1:9/', maxConcurrency: 1, capabilities: [], source: 'api', token }, 'test');
  await store.close();
  const check = (key: string) => spawnSync(NODE, [join(ROOT, 'bin/allot.ts'), 'config', 'check'], { env: { ...process.env, ALLOT_DB: db, ALLOT_SECRET_KEY: key }, encoding: 'utf8', timeout: 30_000 });
  const right = check(A);
  assert.equal(right.status, 0, right.stderr);
  const wrong = check('secret-key-B-0123456789abcdef0123');
  assert.equal(wrong.status, 2, wrong.stdout + wrong.stderr);
  assert.match(wrong.stderr, /ALLOT_SECRET_KEY: workers\.sealed: a stored worker token cannot be decrypted with ALLOT_SECRET_KEY/);
  // What start-up says about the same key: the check said it first.
  const start = spawnSync(NODE, [join(ROOT, 'src/main.ts')], { env: { ...process.env, ALLOT_DB: db, ALLOT_SECRET_KEY: 'secret-key-B-0123456789abcdef0123', ALLOT_PORT: '0', ALLOT_LOG_LEVEL: 'fatal' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(start.status, 2, start.stdout + start.stderr);
  assert.match(start.stderr, /ALLOT_SECRET_KEY: a stored worker token cannot be decrypted/);
  rmSync(sub, { recursive: true, force: true });
});

test('allot config check, scaled out, names a PostgreSQL or Redis that does not answer', () => {
  const r = spawnSync(NODE, [join(ROOT, 'bin/allot.ts'), 'config', 'check'], {
    env: { ...process.env, ALLOT_DATABASE_URL: 'postgres://allot:secret@127.0.0.1:9/allot', ALLOT_REDIS_URL: 'redis://127.0.0.1:9' }, encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /ALLOT_REDIS_URL: cannot reach redis:\/\/127\.0\.0\.1:9/);
  assert.match(r.stderr, /ALLOT_DATABASE_URL: cannot read postgres:\/\/allot:\*+@127\.0\.0\.1:9\/allot/);
  assert.doesNotMatch(r.stderr, /secret@/, 'the password is not printed');
});
