/**
 * `allot migrate import` end to end: a v2 database built here (a SQLite file
 * and the same rows as a D1-style SQL dump, with malformed rows), imported by
 * the real CLI process, checked against its validation report and against
 * what Allot holds; then the server runs the work it took over on real
 * workers (a direct HTTP one and a v2-handshake one), leaves v2's running
 * work alone, and a later import tracks that work to its end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { periodOf } from '../../src/core/budget.ts';
import type { ImportReport } from '../../src/migrate/import.ts';
import { NODE, ROOT, sleep, startProcess, type Proc } from '../helpers/proc.ts';
import { v2Dump, writeV2Sqlite, type V2Data } from '../migrate/v2-fixture.ts';
import { onlyOn } from '../helpers/app-backend.ts';
import { ADMIN_KEY, allotFiles, startAllot, startWorker, until, type AllotFiles, type AllotProc, type RunningWorker } from './harness.ts';

const DAY = 86_400_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI as an operator runs it: a separate process on the same database file. */
function allotCli(files: AllotFiles, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [join(ROOT, 'bin/allot.ts'), ...args], {
      cwd: ROOT, env: { ...process.env, ALLOT_DB: files.db, ALLOT_CONFIG: files.config, ALLOT_ADMIN_KEY: ADMIN_KEY, ALLOT_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function importJson(files: AllotFiles, args: string[]): Promise<{ run: Run; report: ImportReport }> {
  const run = await allotCli(files, ['migrate', 'import', ...args, '--json']);
  assert.ok(run.stdout.startsWith('{'), `${run.stdout}\n${run.stderr}`);
  return { run, report: JSON.parse(run.stdout) as ImportReport };
}

/** Every row of every table, to show that an operation changed nothing. */
function dbContents(path: string): string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    return JSON.stringify(tables.map((t) => [t, (db.prepare(`SELECT * FROM "${t}"`).all() as object[]).map((r) => JSON.stringify(r)).toSorted()]));
  } finally {
    db.close();
  }
}

interface Held {
  readonly id: string;
  readonly state: string;
  readonly system: string;
  readonly cost_nano: number;
  readonly client_id: string;
  readonly period: string;
}

/** Allot's requests by v2 execution id, read from the database file. */
function byExternalId(path: string): Map<string, Held> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare('SELECT id, external_id, state, system, cost_nano, client_id, period FROM requests WHERE external_id IS NOT NULL').all() as unknown as (Held & { external_id: string })[];
    return new Map(rows.map((r) => [r.external_id, { ...r }]));
  } finally {
    db.close();
  }
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

// It reads and hashes Allot's SQLite file to prove what the import wrote (and that a dry run wrote nothing).
describe('allot migrate import', { skip: onlyOn('sqlite-file') }, () => {
  let summarizer: RunningWorker;
  let legacy: Proc;
  let legacyUrl: string;
  let files: AllotFiles;
  let allot: AllotProc | undefined;
  let v2db: string;
  let v2sql: string;
  const now = Date.now();
  const iso = (ms: number): string => new Date(ms).toISOString();
  const cost = { c1: 0.0125, c2: 0.5, c3: 0.001, f1: 0.002 };
  let data: V2Data;

  before(async () => {
    summarizer = await startWorker('examples/summarizer/server.ts');
    legacy = await startProcess([join(ROOT, 'examples/v2-legacy/server.ts'), '--port', '0', '--name', 'legacy'], { ready: /listening on (http:\/\/\S+)/ });
    legacyUrl = /listening on (http:\/\/\S+)/.exec(legacy.output())?.[1] as string;
    files = allotFiles({ scheduler: { reaper_interval_ms: 100 } });
    const text = 'Token buckets refill at a steady rate. A fair scheduler shares contended resources. Budgets are held for the worst case.';
    data = {
      workers: [
        { worker_name: 'summarizer', worker_url: summarizer.url, status: 'active', capabilities: '{"input_types":["text"],"output_types":["json"]}', protocol_version: '1.0', supports_handshake: 0, supports_streaming: 0, max_concurrent_executions: 4, avg_execution_time_ms: 800 },
        { worker_name: 'legacy', worker_url: legacyUrl, status: 'active', capabilities: '["count"]', protocol_version: '2.0', supports_handshake: 'true', supports_streaming: 0, max_concurrent_executions: 2, avg_execution_time_ms: 60000 },
        { worker_name: 'retired', worker_url: 'http://127.0.0.1:9/', status: 'inactive', capabilities: null, protocol_version: '2.0', supports_handshake: 0, supports_streaming: 0, max_concurrent_executions: null, avg_execution_time_ms: null },
        { worker_name: 'ghost', worker_url: 'not a url', status: 'active', capabilities: null, protocol_version: '2.0', supports_handshake: 1, supports_streaming: 0, max_concurrent_executions: 1, avg_execution_time_ms: null },
      ],
      templates: [
        { template_name: 'summarize', display_name: 'Summarize', stages: '[{"stage_order":1,"worker_name":"summarizer","params":{"style":"brief"}}]', is_active: 1 },
        { template_name: 'count', display_name: 'Count words', stages: '[{"stage_order":1,"worker_name":"legacy"}]', is_active: 1 },
        { template_name: 'research', display_name: 'Research', stages: '[{"stage_order":2,"worker_name":"legacy","params":{}},{"stage_order":1,"worker_name":"summarizer","params":{"depth":"deep"}}]', is_active: 1 },
        { template_name: 'old', display_name: 'Old reports', stages: '[{"stage_order":1,"worker_name":"retired"}]', is_active: 0 },
        { template_name: 'bad_stages', display_name: null, stages: '[{"stage_order":1,"worker_name":', is_active: 1 },
        { template_name: 'haunted', display_name: null, stages: '[{"stage_order":1,"worker_name":"ghost"}]', is_active: 1 },
        { template_name: 'orphan', display_name: null, stages: '[{"stage_order":1,"worker_name":"nobody"}]', is_active: 1 },
      ],
      executions: [
        { execution_id: 'q1', template_name: 'summarize', client_id: 'acme', status: 'queued', priority: 'high', input: JSON.stringify({ text, sentences: 1 }), output: null, cost_usd: null, created_at: iso(now - 60_000), started_at: null, completed_at: null },
        { execution_id: 'q2', template_name: 'count', client_id: 'globex', status: 'queued', priority: 3, input: '{"text":"three small words"}', output: null, cost_usd: null, created_at: String(Math.floor((now - 30_000) / 1000)), started_at: null, completed_at: null },
        { execution_id: 'b1', template_name: 'research', client_id: 'acme', status: 'building', priority: 'normal', input: '{"topic":"queues"}', output: null, cost_usd: null, created_at: iso(now - 10_000), started_at: null, completed_at: null },
        { execution_id: 'r1', template_name: 'count', client_id: 'acme', status: 'running', priority: 'low', input: '{"text":"v2 still runs this"}', output: null, cost_usd: 0.004, created_at: iso(now - 120_000), started_at: iso(now - 100_000), completed_at: null },
        { execution_id: 'r2', template_name: 'research', client_id: 'globex', status: 'running', priority: null, input: '{"topic":"buckets"}', output: null, cost_usd: null, created_at: iso(now - 90_000), started_at: iso(now - 80_000), completed_at: null },
        { execution_id: 'c1', template_name: 'summarize', client_id: 'acme', status: 'completed', priority: 'normal', input: '{"text":"a"}', output: '{"summary":"a"}', cost_usd: cost.c1, created_at: String(now - 3 * DAY), started_at: String(now - 3 * DAY + 1000), completed_at: String(now - 3 * DAY + 5000) },
        { execution_id: 'c2', template_name: 'research', client_id: 'globex', status: 'completed', priority: 9, input: '{"topic":"t"}', output: '{"report":"r"}', cost_usd: cost.c2, created_at: iso(now - 45 * DAY), started_at: iso(now - 45 * DAY), completed_at: iso(now - 45 * DAY + 60_000) },
        { execution_id: 'c3', template_name: 'old', client_id: 'acme', status: 'completed', priority: 'low', input: '{}', output: null, cost_usd: cost.c3, created_at: iso(now - 400 * DAY), started_at: null, completed_at: iso(now - 400 * DAY) },
        { execution_id: 'f1', template_name: 'count', client_id: 'globex', status: 'failed', priority: null, input: '{"text":"x"}', output: '{"error":"worker timed out"}', cost_usd: cost.f1, created_at: iso(now - 2 * DAY), started_at: null, completed_at: iso(now - 2 * DAY + 30_000) },
        // Malformed executions: each is reported with its key; the rest are imported.
        { execution_id: 'm1', template_name: 'summarize', client_id: 'acme', status: 'queued', priority: null, input: '{"text": unquoted}', output: null, cost_usd: null, created_at: iso(now), started_at: null, completed_at: null },
        { execution_id: 'm2', template_name: 'summarize', client_id: 'acme', status: 'exploded', priority: null, input: '{}', output: null, cost_usd: null, created_at: iso(now), started_at: null, completed_at: null },
        { execution_id: 'm3', template_name: 'bad_stages', client_id: 'acme', status: 'completed', priority: null, input: '{}', output: null, cost_usd: 1, created_at: iso(now), started_at: null, completed_at: null },
        { execution_id: 'm4', template_name: 'summarize', client_id: 'globex', status: 'completed', priority: null, input: '{}', output: null, cost_usd: -3, created_at: iso(now), started_at: null, completed_at: null },
        { execution_id: 'q1', template_name: 'summarize', client_id: 'acme', status: 'queued', priority: 'high', input: '{}', output: null, cost_usd: null, created_at: iso(now), started_at: null, completed_at: null },
      ],
    };
    v2db = join(files.dir, 'v2.db');
    v2sql = join(files.dir, 'v2-export.sql');
    writeV2Sqlite(v2db, data);
    writeFileSync(v2sql, v2Dump(data));
  });

  after(async () => {
    await allot?.stop();
    await summarizer?.proc.stop();
    await legacy?.stop();
  });

  const expectedMalformed = [
    ['worker_registry', 'ghost', /worker_url/],
    ['pipeline_templates', 'bad_stages', /stages: not valid JSON/],
    ['pipeline_templates', 'haunted', /worker_registry row "ghost" is malformed/],
    ['pipeline_templates', 'orphan', /no worker "nobody" in worker_registry/],
    ['pipeline_executions', 'm1', /input: not valid JSON/],
    ['pipeline_executions', 'm2', /status: "exploded"/],
    ['pipeline_executions', 'm3', /pipeline_templates row "bad_stages" is malformed/],
    ['pipeline_executions', 'm4', /cost_usd/],
    ['pipeline_executions', 'q1', /appears more than once/],
  ] as const;

  /** `live`: a running server may have started (or finished) the taken-over work by the time it counts. */
  function checkReport(r: ImportReport, o: { created: boolean; live?: boolean }): void {
    const t = r.tables;
    const n = (x: number): [number, number] => (o.created ? [x, 0] : [0, x]);
    assert.deepEqual([t.worker_registry.read, t.worker_registry.created, t.worker_registry.unchanged, t.worker_registry.malformed], [4, ...n(3), 1]);
    assert.deepEqual([t.pipeline_templates.read, t.pipeline_templates.created, t.pipeline_templates.unchanged, t.pipeline_templates.malformed], [7, ...n(4), 3]);
    assert.deepEqual([t.pipeline_executions.read, t.pipeline_executions.created, t.pipeline_executions.unchanged, t.pipeline_executions.malformed], [14, ...n(9), 5]);
    assert.deepEqual(t.worker_registry.by_status, { active: 2, inactive: 1 });
    assert.deepEqual(t.pipeline_templates.by_status, { active: 3, inactive: 1 });
    const queued = r.statuses.find((s) => s.v2_status === 'queued')?.allot ?? -1;
    assert.ok(o.live ? queued >= 0 && queued <= 2 : queued === 2, `queued work in Allot: ${queued}`);
    assert.deepEqual(
      r.statuses.map((s) => [s.v2_status, s.allot_state, s.source, s.v2_status === 'queued' ? 2 : s.allot]),
      [['queued', 'PENDING', 2, 2], ['building', 'PREPARING', 1, 1], ['running', 'RUNNING', 2, 2], ['completed', 'COMPLETED', 3, 3], ['failed', 'FAILED', 1, 1]],
    );
    assert.deepEqual([r.taken_over, r.left_to_v2], [2, 3]);
    const history = cost.c1 + cost.c2 + cost.c3 + cost.f1;
    assert.ok(Math.abs(r.history_cost_usd.source - history) < 1e-9 && r.history_cost_usd.match, JSON.stringify(r.history_cost_usd));
    for (const x of Object.values(t)) assert.ok(x.checksum.match && /^[0-9a-f]{64}$/.test(x.checksum.source), JSON.stringify(x.checksum));
    assert.deepEqual([t.worker_registry.checksum.rows, t.pipeline_templates.checksum.rows, t.pipeline_executions.checksum.rows], [3, 4, 9]);
    assert.equal(r.malformed.length, expectedMalformed.length, JSON.stringify(r.malformed, null, 1));
    for (const [table, key, re] of expectedMalformed) {
      const m = r.malformed.find((x) => x.table === table && x.key === key);
      assert.ok(m, `${table} ${key} is reported`);
      assert.match(m.reason, re);
    }
    assert.deepEqual([r.conflicts, r.differences], [[], []]);
    assert.equal(r.ok, false);
  }

  it('a dry run reports what the import would do and writes nothing', async () => {
    const first = await importJson(files, [v2db, '--dry-run']);
    assert.equal(first.run.code, 3, first.run.stderr);
    assert.equal(first.report.dry_run, true);
    checkReport(first.report, { created: true });
    assert.deepEqual(first.report.clients_created.map((c) => [c.id, c.tier, c.api_key]), [['acme', 'standard', null], ['globex', 'standard', null]]);
    assert.equal(existsSync(files.db), false, 'no database was created');

    const migrate = await allotCli(files, ['db', 'migrate']);
    assert.equal(migrate.code, 0, migrate.stderr);
    const bytes = sha256(files.db);
    const contents = dbContents(files.db);
    const again = await importJson(files, [v2sql, '--dry-run']);
    assert.equal(again.run.code, 3);
    checkReport(again.report, { created: true });
    assert.equal(again.report.source.kind, 'sql-dump');
    assert.equal(sha256(files.db), bytes, 'the database file is byte for byte the same');
    assert.equal(dbContents(files.db), contents);
  });

  it('imports for real: the report matches what Allot holds, and a second run changes nothing', async () => {
    const { run, report } = await importJson(files, [v2db]);
    assert.equal(run.code, 3, 'exit 3: malformed rows were found (the rest was imported)');
    assert.equal(report.dry_run, false);
    checkReport(report, { created: true });
    assert.equal(report.clients_created.length, 2);
    for (const c of report.clients_created) assert.match(c.api_key ?? '', /^ak_/);

    const held = byExternalId(files.db);
    assert.deepEqual([...held.keys()].toSorted(), ['b1', 'c1', 'c2', 'c3', 'f1', 'q1', 'q2', 'r1', 'r2']);
    const s = (k: string) => [held.get(k)?.state, held.get(k)?.system];
    assert.deepEqual(['q1', 'q2', 'b1', 'r1', 'r2', 'c1', 'f1'].map(s), [
      ['PENDING', 'allot'], ['PENDING', 'allot'], ['PREPARING', 'v2'], ['RUNNING', 'v2'], ['RUNNING', 'v2'], ['COMPLETED', 'v2'], ['FAILED', 'v2'],
    ]);
    assert.equal(held.get('c1')?.cost_nano, 12_500_000);
    assert.equal(held.get('c2')?.period, periodOf(now - 45 * DAY + 60_000, 'UTC'), 'history is charged to the period it finished in');
    assert.equal(held.get('r1')?.cost_nano, 0, 'running work is charged when it ends');

    const text = await allotCli(files, ['migrate', 'import', v2db]);
    assert.equal(text.code, 3);
    // Progress goes to stderr (stdout keeps the report): each table from its first row to its end.
    for (const [table, n] of [['worker_registry', 4], ['pipeline_templates', 7], ['pipeline_executions', 14]] as const) {
      assert.match(text.stderr, new RegExp(`${table}: 0 of ${n} rows \\(0%\\)\n`), text.stderr);
      assert.match(text.stderr, new RegExp(`${table}: ${n} of ${n} rows \\(100%\\)\n`), text.stderr);
    }
    assert.doesNotMatch(text.stdout, /of \d+ rows \(\d+%\)/, 'no progress in the report');
    const contents = dbContents(files.db);
    const second = await importJson(files, [v2db]);
    assert.equal(second.run.code, 3);
    checkReport(second.report, { created: false });
    assert.deepEqual([second.report.clients_created, second.report.clients_existing], [[], 2]);
    assert.equal(dbContents(files.db), contents, 'the second import wrote nothing');
    assert.match(text.stdout, /pipeline_executions\s+14\s+0\s+9\s+0\s+5\s+0/);
    assert.match(text.stdout, /pipeline_executions m1: input: not valid JSON/);
    assert.match(text.stdout, /pipeline_executions\s+9 rows\s+([0-9a-f]{16})\s+\1\s+match/);
  });

  it('the server runs the work it took over, leaves v2\'s running work alone, and keeps the history\'s cost', async () => {
    allot = await startAllot(files);
    const a = allot;
    const held = byExternalId(files.db);
    const exec = async (k: string) => (await a.admin.request<Record<string, unknown>>('GET', `/api/execution/${held.get(k)?.id}`)).body;
    await until(async () => (await exec('q1')).status === 'COMPLETED' && (await exec('q2')).status === 'COMPLETED', 15_000, 'the taken-over work to complete');
    assert.ok(((await exec('q1')).output as { summary: string }).summary.length > 0, 'the summarizer worked on it');
    assert.deepEqual((await exec('q2')).output, { words: 3, upper: 'THREE SMALL WORDS' }, 'the v2 worker worked on it, through the handshake');

    await sleep(500); // five reaper passes
    for (const k of ['r1', 'r2']) {
      const r = await exec(k);
      assert.equal(r.status, 'RUNNING', `${k} is still v2's`);
      assert.equal(r.attempts, 1);
    }
    assert.equal((await exec('b1')).status, 'PREPARING');
    const stats = (await (await fetch(`${legacyUrl}/stats`)).json()) as { processed: number };
    assert.equal(stats.processed, 1, 'only the taken-over request went to the v2 worker; r1 was not dispatched again');

    const usage = (await a.admin.request<{ periods: { period: string; spent_usd: number }[]; by_template: { template: string; cost_usd: number }[] }>('GET', '/api/usage/globex')).body;
    const spent = (p: string) => usage.periods.find((x) => x.period === p)?.spent_usd ?? 0;
    assert.equal(spent(periodOf(now - 45 * DAY + 60_000, 'UTC')), cost.c2);
    assert.equal(usage.by_template.find((x) => x.template === 'research')?.cost_usd, cost.c2);
    assert.equal(usage.by_template.find((x) => x.template === 'count')?.cost_usd, cost.f1);
  });

  it('a later import through the server tracks v2\'s running work to its end', async () => {
    const a = allot as AllotProc;
    const db = new DatabaseSync(v2db);
    db.prepare("UPDATE pipeline_executions SET status = 'completed', cost_usd = 0.03, output = '{\"words\":4}', completed_at = ? WHERE execution_id = 'r1'").run(iso(now - 1000));
    db.prepare("UPDATE pipeline_executions SET status = 'failed', cost_usd = 0.02, output = '{\"error\":{\"message\":\"stage 2 crashed\"}}', completed_at = ? WHERE execution_id = 'r2'").run(iso(now - 500));
    // Imported while v2 was still building it: it ran and finished there since.
    db.prepare("UPDATE pipeline_executions SET status = 'completed', cost_usd = 0.01, output = '{\"report\":\"queues\"}', started_at = ?, completed_at = ? WHERE execution_id = 'b1'").run(iso(now - 900), iso(now - 300));
    db.close();

    const dry = await importJson(files, [v2db, '--server', a.url, '--dry-run']);
    assert.equal(dry.report.dry_run, true);
    assert.equal(dry.report.tables.pipeline_executions.updated, 3);
    assert.equal(byExternalId(files.db).get('r1')?.state, 'RUNNING', 'a dry run through the server changes nothing');

    const { run, report } = await importJson(files, [v2db, '--server', a.url]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /importing through http:\/\/\S+…\nimporting through http:\/\/\S+: done in \d+ s\n/, 'says it waits on the server, then how long it took');
    const t = report.tables.pipeline_executions;
    assert.deepEqual([t.created, t.unchanged, t.updated, t.conflicts], [0, 6, 3, 0]);
    assert.ok(t.checksum.match);
    assert.deepEqual(report.statuses.find((s) => s.v2_status === 'running'), undefined);
    assert.deepEqual(report.statuses.find((s) => s.v2_status === 'building'), undefined);
    assert.deepEqual(report.statuses.find((s) => s.v2_status === 'completed'), { v2_status: 'completed', allot_state: 'COMPLETED', source: 5, allot: 5 });

    const held = byExternalId(files.db);
    const r1 = (await a.admin.request<Record<string, unknown>>('GET', `/api/execution/${held.get('r1')?.id}`)).body;
    assert.deepEqual([r1.status, r1.cost_usd, r1.output, r1.completed_at], ['COMPLETED', 0.03, { words: 4 }, iso(now - 1000)]);
    const r2 = (await a.admin.request<Record<string, unknown>>('GET', `/api/execution/${held.get('r2')?.id}`)).body;
    assert.deepEqual([r2.status, (r2.error as { message: string }).message], ['FAILED', 'stage 2 crashed']);
    const b1 = (await a.admin.request<Record<string, unknown>>('GET', `/api/execution/${held.get('b1')?.id}`)).body;
    assert.deepEqual([b1.status, b1.cost_usd, b1.output, b1.started_at], ['COMPLETED', 0.01, { report: 'queues' }, iso(now - 900)], 'work imported as building is followed to its end');
    const acme = (await a.admin.request<{ spent_usd: number }>('GET', '/api/usage/acme/current')).body;
    assert.ok(acme.spent_usd >= 0.03, `r1's cost is charged to acme (${JSON.stringify(acme)})`);
  });

  it('the SQL dump through a running server: taken-over work starts without a restart', async () => {
    const fresh = allotFiles({});
    const b = await startAllot(fresh);
    try {
      const { run, report } = await importJson(fresh, [v2sql, '--server', b.url]);
      assert.equal(run.code, 3, run.stderr);
      assert.equal(report.source.kind, 'sql-dump');
      checkReport(report, { created: true, live: true });
      const held = byExternalId(fresh.db);
      await until(async () => {
        const states = await Promise.all(['q1', 'q2'].map(async (k) => (await b.admin.request<{ status: string }>('GET', `/api/execution/${held.get(k)?.id}`)).body.status));
        return states.every((x) => x === 'COMPLETED');
      }, 15_000, 'the taken-over work to complete on the running server');
    } finally {
      await b.stop();
    }
  });
});
