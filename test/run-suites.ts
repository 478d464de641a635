/**
 * `npm run test:suites`: every suite once, then the suites that run Allot
 * (test/http, test/scheduler, test/e2e, test/migration, test/sdk/v2-dual,
 * test/sdk/pull, test/cli/operator, test/packages/client, test/python)
 * again on each further backend in ALLOT_TEST_BACKENDS (default: all), the
 * first being SQLite. The store contract suite (test/contract) runs every
 * backend itself. A backend that cannot run here is reported as skipped, in
 * the summary and with its reason, never as passed.
 *
 * node's test runner runs with concurrency 1: several suites start servers,
 * worker processes and load, and this machine has two cores.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { dropRedisPrefix } from './helpers/app-backend.ts';

const NODE_TEST = ['--test', '--test-concurrency=1', '--test-timeout=600000'];
const APP_SUITES = ['test/http/**/*.test.ts', 'test/scheduler/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/migration/**/*.test.ts', 'test/sdk/v2-dual.test.ts', 'test/sdk/pull.test.ts', 'test/cli/operator.test.ts', 'test/packages/client.test.ts', 'test/python/**/*.test.ts'];
const KNOWN = ['sqlite-file', 'postgres'];

const wanted = (process.env.ALLOT_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean)) ?? KNOWN;
const unknown = wanted.filter((b) => !KNOWN.includes(b));
if (unknown.length) {
  process.stderr.write(`ALLOT_TEST_BACKENDS names unknown backends: ${unknown.join(', ')} (known: ${KNOWN.join(', ')})\n`);
  process.exit(2);
}
const files = process.argv.slice(2);
const summary: string[] = [];
let failed = false;

function run(label: string, args: string[], env: Record<string, string>): void {
  process.stdout.write(`\n# ---- ${label} ----\n`);
  const r = spawnSync(process.execPath, [...NODE_TEST, ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
  const ok = r.status === 0;
  failed ||= !ok;
  summary.push(`${ok ? 'passed' : 'FAILED'}: ${label}`);
}

const runId = randomBytes(4).toString('hex');
// 1. Everything, on SQLite (the embedded default).
run('all suites, app suites on sqlite-file', files.length ? files : ['test/**/*.test.ts'], { ALLOT_TEST_BACKEND: 'sqlite-file', ALLOT_TEST_RUN_ID: runId });

// 2. The app suites again on PostgreSQL + Redis.
if (wanted.includes('postgres')) {
  const missing = ['ALLOT_TEST_PG_URL', 'ALLOT_TEST_REDIS_URL'].filter((k) => !process.env[k]);
  if (missing.length) summary.push(`SKIPPED: app suites on postgres (${missing.join(' and ')} not set)`);
  else {
    run('app suites on postgres + redis', files.length ? files : APP_SUITES, { ALLOT_TEST_BACKEND: 'postgres', ALLOT_TEST_RUN_ID: runId });
    await dropLeftovers(runId);
  }
}

process.stdout.write(`\n# ---- backends ----\n${summary.map((s) => `# ${s}`).join('\n')}\n`);
process.exit(failed ? 1 : 0);

/** Schemas and Redis keys a test started on this run's id and did not drop (a crash, a test that does not clean up). */
async function dropLeftovers(id: string): Promise<void> {
  const prefix = `allot_h_${id}_`;
  const c = new pg.Client({ connectionString: process.env.ALLOT_TEST_PG_URL });
  await c.connect();
  try {
    const r = await c.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [prefix]);
    for (const { nspname } of r.rows) await c.query(`DROP SCHEMA ${pg.escapeIdentifier(nspname)} CASCADE`);
  } finally {
    await c.end();
  }
  await dropRedisPrefix(prefix);
}
