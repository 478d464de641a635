/**
 * Allot and the Orchestrator v2 stand-in side by side, as real processes on
 * loopback: a 30% rollout over 1,000 requests, shadow mode catching a
 * deliberately different output, a rollback under load that loses and
 * repeats nothing, a restart while v2 still runs forwarded work, and
 * `allot migrate compare`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { routeFor, shadowSampled } from '../../src/migrate/routing.ts';
import { writeV2Sqlite } from '../migrate/v2-fixture.ts';
import { Client, NODE, ROOT } from '../helpers/proc.ts';
import { ADMIN_KEY, allotFiles, createClient, startAllot, startWorker, text, until, type AllotFiles, type AllotProc, type RunningWorker } from './harness.ts';

const run = promisify(execFile);

interface View {
  request_id: string;
  status: string;
  system: 'allot' | 'v2';
  external_id: string | null;
  attempts: number;
  cost_usd: number;
  output: unknown;
}
interface V2Stats {
  executed: number;
  deduplicated: number;
  max_runs_per_request_id: number;
  request_ids: string[];
}
interface MigrationStatus {
  rollback: boolean;
  progress: { total: number; allot: number; v2: number; in_flight: { allot: number; v2: number; shadow_copies: number } };
  shadow_results: { total: number; with_differences: number; by_field: Record<string, number>; comparing: number };
}
interface ShadowRow {
  request_id: string;
  primary: 'allot' | 'v2';
  differences: string[];
}

describe('Allot and Orchestrator v2 side by side', () => {
  let v2: RunningWorker;
  let v2c: Client;
  let summarizer: RunningWorker;
  let files: AllotFiles;
  let allot: AllotProc;

  const migration = async (): Promise<MigrationStatus> => (await allot.admin.request<{ migration: MigrationStatus }>('GET', '/admin/migration')).body.migration;
  const put = async (body: Record<string, unknown>): Promise<void> => {
    const r = await allot.admin.request('PUT', '/admin/migration', body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const v2Stats = async (): Promise<V2Stats> => (await v2c.request<V2Stats>('GET', '/__stats')).body;
  const settled = (what: string): Promise<void> =>
    until(async () => {
      const m = await migration();
      return m.progress.in_flight.allot + m.progress.in_flight.v2 + m.progress.in_flight.shadow_copies === 0 && m.shadow_results.comparing === 0;
    }, 120_000, what);
  /** Submit `n` requests from `api`, `concurrency` at a time; `input(i)` builds each input. */
  const submitMany = async (api: Client, n: number, concurrency: number, input: (i: number) => Record<string, unknown>): Promise<string[]> => {
    const ids: string[] = Array.from({ length: n }, () => '');
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const i = next++;
          const r = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', input: input(i) });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          ids[i] = r.body.request_id;
        }
      }),
    );
    return ids;
  };
  const views = async (api: Client, ids: readonly string[]): Promise<View[]> => {
    const out: View[] = [];
    for (let i = 0; i < ids.length; i += 50) {
      out.push(...(await Promise.all(ids.slice(i, i + 50).map(async (id) => (await api.request<View>('GET', `/api/execution/${id}`)).body))));
    }
    return out;
  };

  before(async () => {
    // Same prices on both sides (stand-in defaults: $0.000001 in, $0.000003 out per token), so costs agree.
    v2 = await startWorker('examples/v2-orchestrator/server.ts', ['--latency-ms', '20', '--concurrency', '64']);
    v2c = new Client(v2.url);
    // Allot's requests take 100 ms at the worker, so some are always in flight during the rollback.
    summarizer = await startWorker('examples/summarizer/server.ts', ['--delay-ms', '100']);
    files = allotFiles({
      resources: {
        'test-llm': { kind: 'tokens', model: 'test-llm', unit: 'token', capacity: 1_000_000, refill_per_s: 1_000_000, cost_per_unit_usd: 0.000002, input_cost_per_unit_usd: 0.000001, output_cost_per_unit_usd: 0.000003 },
      },
      workers: { summarizer: { transport: 'http', url: summarizer.url, max_concurrency: 32 } },
      templates: { summarize: { worker: 'summarizer', model: 'test-llm', max_tokens: 120, timeout_ms: 15_000 } },
      migration: { legacy_url: v2.url, mode: 'allot', poll_interval_ms: 20 },
    });
    allot = await startAllot(files);
  });

  after(async () => {
    v2c?.close();
    await allot?.stop();
    await v2?.proc.stop();
    await summarizer?.proc.stop();
  });

  it('routes close to 30% of 1,000 requests to Allot at a 30% rollout, each by its id, and completes them all', async () => {
    await put({ mode: 'rollout', rollout_percent: 30, shadow: false });
    const c = await createClient(allot, 'rollout-30', 'enterprise');
    const api = allot.as(c.key);
    const ids = await submitMany(api, 1000, 32, (i) => ({ text: text(i, 2 + (i % 4)), sentences: 2, n: i }));
    await settled('the 1,000 requests to finish');
    const all = await views(api, ids);
    assert.equal(all.length, 1000);
    for (const v of all) {
      assert.equal(v.status, 'COMPLETED', JSON.stringify(v));
      assert.equal(v.system, routeFor(v.request_id, { mode: 'rollout', rolloutPercent: 30, rollback: false }), 'the system is the one its id hashes to');
      assert.equal(v.attempts, 1);
      assert.ok(v.cost_usd > 0, 'v2 cost and Allot cost are both charged');
      if (v.system === 'v2') assert.match(v.external_id ?? '', /^exec_/);
      else assert.equal(v.external_id, null);
    }
    // Binomial: sd = sqrt(1000 * 0.3 * 0.7) = 14.5 requests; ±5 points (±50) is 3.4 sd.
    const inAllot = all.filter((v) => v.system === 'allot').length;
    assert.ok(Math.abs(inAllot - 300) <= 50, `${inAllot} of 1,000 ran in Allot; expected 300 ± 50`);
    const s = await v2Stats();
    const known = new Set(s.request_ids);
    for (const v of all) if (v.system === 'v2') assert.ok(known.has(v.request_id), `v2 never saw ${v.request_id}`);
    assert.equal(s.max_runs_per_request_id, 1, 'v2 ran nothing twice');
  });

  it('shadow mode records a deliberately different output, in the API and in `allot migrate status`', async () => {
    await put({ mode: 'rollout', rollout_percent: 50, shadow: true });
    await v2c.request('POST', '/__control', { mutate_output: true, mutate_match: 'MUTATE-ME' });
    const comparedBefore = (await migration()).shadow_results.total;
    const c = await createClient(allot, 'shadowed', 'enterprise');
    const api = allot.as(c.key);
    const marked = (i: number): boolean => i % 3 === 0;
    const ids = await submitMany(api, 60, 8, (i) => ({ text: `${text(1000 + i, 3)}${marked(i) ? ' MUTATE-ME.' : ''}`, sentences: 2 }));
    await until(async () => (await migration()).shadow_results.total - comparedBefore >= 60, 60_000, 'all 60 shadow comparisons');
    await settled('shadow copies to finish');

    const rows = (await allot.admin.request<{ results: ShadowRow[] }>('GET', '/admin/migration/shadow?differences_only=true&limit=1000')).body.results;
    const mine = new Set(ids);
    const outputDiffers = new Set(rows.filter((r) => mine.has(r.request_id) && r.differences.includes('output')).map((r) => r.request_id));
    const expected = new Set(ids.filter((_, i) => marked(i)));
    assert.deepEqual([...outputDiffers].toSorted(), [...expected].toSorted(), 'exactly the requests v2 answered differently');
    for (const r of rows.filter((x) => mine.has(x.request_id))) {
      assert.ok(!r.differences.includes('status') && !r.differences.includes('cost'), `only output (and perhaps latency) may differ: ${JSON.stringify(r)}`);
    }
    // Both directions ran: Allot primaries got a v2 copy, v2 primaries an Allot copy.
    const primaries = new Set(rows.filter((r) => expected.has(r.request_id)).map((r) => r.primary));
    assert.deepEqual([...primaries].toSorted(), ['allot', 'v2']);
    // The client got the primary's answer, and its own requests only: the Allot copies are hidden from its list.
    const listed = await api.request<{ requests: View[] }>('GET', '/api/executions?limit=1000');
    assert.equal(listed.body.requests.length, 60);

    const cli = await run(NODE, [join(ROOT, 'bin/allot.ts'), 'migrate', 'status', '--url', allot.url], { env: { ...process.env, ALLOT_ADMIN_KEY: ADMIN_KEY } });
    assert.match(cli.stdout, /Shadow: {3}on; \d+ compared, \d+ with differences \(.*output 20/);
    assert.match(cli.stdout, /Progress: \d+ requests: Allot \d+, v2 \d+/);
    assert.match(cli.stdout, /Recent differences[^]*differs in output/);

    await v2c.request('POST', '/__control', { mutate_output: false, mutate_match: null });

    // A sample: at shadow_percent 25 exactly the requests whose id is in the sample are compared.
    await put({ shadow: true, shadow_percent: 25 });
    const sampleIds = await submitMany(api, 40, 8, (i) => ({ text: text(3000 + i, 2), sentences: 1 }));
    await settled('the sampled shadow copies to finish');
    const compared = new Set((await allot.admin.request<{ results: ShadowRow[] }>('GET', '/admin/migration/shadow?limit=1000')).body.results.map((r) => r.request_id));
    const inSample = sampleIds.filter((id) => shadowSampled(id, 25));
    assert.deepEqual(sampleIds.filter((id) => compared.has(id)).toSorted(), inSample.toSorted(), 'compared: exactly the sampled requests');
    assert.ok(inSample.length > 0 && inSample.length < 40, `${inSample.length} of 40 sampled`);
    await put({ shadow: false, shadow_percent: 100 });
  });

  it('rolls back under load: new requests go to v2 from that moment; everything accepted completes once', async () => {
    await put({ mode: 'rollout', rollout_percent: 50, shadow: false });
    const c = await createClient(allot, 'rollback', 'enterprise');
    const api = allot.as(c.key);
    const v2Before = await v2Stats();
    const TOTAL = 400;
    const accepted: { id: string; afterRollback: boolean }[] = [];
    let rolledBack = false;
    let inFlightAtRollback = -1;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          if (i === 150) {
            const r = await allot.admin.request<{ migration: MigrationStatus }>('POST', '/admin/migration/rollback');
            assert.equal(r.status, 200);
            assert.equal(r.body.migration.rollback, true);
            inFlightAtRollback = r.body.migration.progress.in_flight.allot;
            rolledBack = true;
          }
          const afterRollback = rolledBack;
          const r = await api.request<{ request_id: string }>('POST', '/api/queue/enqueue', { template: 'summarize', input: { text: text(5000 + i, 3), sentences: 2 } });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          accepted.push({ id: r.body.request_id, afterRollback });
        }
      }),
    );
    assert.ok(inFlightAtRollback > 0, 'Allot had work in flight when the rollback came');
    await settled('every request to finish after the rollback');

    assert.equal(accepted.length, TOTAL);
    const byId = new Map((await views(api, accepted.map((a) => a.id))).map((v) => [v.request_id, v]));
    const listed = await api.request<{ requests: View[] }>('GET', '/api/executions?limit=1000');
    assert.equal(listed.body.requests.length, TOTAL, 'nothing lost, nothing extra');
    let beforeInAllot = 0;
    for (const a of accepted) {
      const v = byId.get(a.id) as View;
      assert.equal(v.status, 'COMPLETED', JSON.stringify(v));
      assert.equal(v.attempts, 1, 'ran once');
      if (a.afterRollback) assert.equal(v.system, 'v2', `${a.id} was submitted after the rollback returned`);
      else if (v.system === 'allot') beforeInAllot++;
    }
    assert.ok(beforeInAllot > 0, 'requests accepted in Allot before the rollback finished in Allot');
    const s = await v2Stats();
    const v2Ids = accepted.filter((a) => byId.get(a.id)?.system === 'v2').map((a) => a.id);
    const known = new Set(s.request_ids);
    for (const id of v2Ids) assert.ok(known.has(id));
    assert.equal(s.executed - v2Before.executed, v2Ids.length, 'v2 executed each forwarded request exactly once');
    assert.equal(s.max_runs_per_request_id, 1);

    const resumed = await allot.admin.request<{ migration: MigrationStatus }>('POST', '/admin/migration/resume');
    assert.equal(resumed.body.migration.rollback, false);
  });

  it('follows v2 work again after a crash and restart, without sending it twice', async () => {
    await put({ mode: 'v2', shadow: false });
    await v2c.request('POST', '/__control', { latency_ms: 1500 });
    const c = await createClient(allot, 'crash', 'enterprise');
    const ids = await submitMany(allot.as(c.key), 10, 10, (i) => ({ text: text(9000 + i, 3), sentences: 2 }));
    const v2Before = await v2Stats();
    await until(async () => (await migration()).progress.in_flight.v2 === 10 && (await v2Stats()).request_ids.filter((id) => ids.includes(id)).length === 10, 10_000, 'v2 to take all ten');
    await allot.stop('SIGKILL');
    allot = await startAllot(files);
    const api = allot.as(c.key);
    await settled('the ten v2 requests to finish after the restart');
    for (const v of await views(api, ids)) {
      assert.equal(v.status, 'COMPLETED', JSON.stringify(v));
      assert.equal(v.system, 'v2');
    }
    const s = await v2Stats();
    assert.equal(s.executed - v2Before.executed, 10, 'each ran once in v2');
    assert.equal(s.max_runs_per_request_id, 1);
    await v2c.request('POST', '/__control', { latency_ms: 20 });
  });

  it('imports work v2 is still running (a dry run first, which writes nothing) and follows it through the legacy API to its end, with v2\'s output and cost', async () => {
    await put({ mode: 'allot', shadow: false });
    await v2c.request('POST', '/__control', { latency_ms: 1500 });
    try {
      // Work v2 accepted before the migration: it is running there when its database is exported.
      const submitted = await v2c.request<{ execution_id: string }>('POST', '/api/execute', { template_name: 'summarize', client_id: 'v2-team', input: { text: text(9000, 3), sentences: 2 } });
      const execId = submitted.body.execution_id;
      assert.match(execId, /^exec_/);
      const file = join(files.dir, 'v2-running.sqlite');
      const iso = new Date().toISOString();
      writeV2Sqlite(file, {
        workers: [],
        templates: [],
        executions: [{ execution_id: execId, template_name: 'summarize', client_id: 'v2-team', status: 'running', priority: 'normal', input: JSON.stringify({ text: text(9000, 3), sentences: 2 }), output: null, cost_usd: null, created_at: iso, started_at: iso, completed_at: null }],
      });
      type Report = { dry_run: boolean; tables: { pipeline_executions: { created: number } } };
      const running = async (): Promise<{ request_id: string; status: string; system: string }[]> =>
        (await allot.admin.request<{ requests: { request_id: string; status: string; system: string; external_id: string | null }[] }>('GET', '/admin/requests?status=RUNNING&limit=10000'))
          .body.requests.filter((r) => r.external_id === execId);
      // On PostgreSQL the dry run imports into a copy of the schema, taken in one transaction and dropped after.
      const dry = await allot.admin.request<Report>('POST', '/admin/migration/import', { path: file, dry_run: true });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.deepEqual([dry.body.dry_run, dry.body.tables.pipeline_executions.created], [true, 1], JSON.stringify(dry.body));
      assert.deepEqual(await running(), [], 'a dry run writes nothing');
      const imported = await allot.admin.request<Report>('POST', '/admin/migration/import', { path: file });
      assert.equal(imported.status, 200, JSON.stringify(imported.body));
      assert.equal(imported.body.tables.pipeline_executions.created, 1);
      const [row] = await running();
      assert.ok(row, 'the import recorded it');
      assert.deepEqual([row.status, row.system], ['RUNNING', 'v2'], 'left to v2, recorded as running there');
      const rowId = row.request_id;
      await until(async () => (await allot.admin.request<View>('GET', `/api/execution/${rowId}`)).body.status === 'COMPLETED', 20_000, 'the imported execution to end in v2');
      const view = (await allot.admin.request<View>('GET', `/api/execution/${rowId}`)).body;
      const there = (await v2c.request<{ status: string; output: unknown; cost_usd: number }>('GET', `/api/executions/${execId}`)).body;
      assert.equal(there.status, 'completed');
      assert.deepEqual(view.output, there.output, "v2's output");
      assert.equal(view.cost_usd, there.cost_usd, "and v2's cost");
      const s = await v2Stats();
      assert.equal(s.max_runs_per_request_id, 1, 'following it sent nothing to v2 again');
    } finally {
      await v2c.request('POST', '/__control', { latency_ms: 20 });
    }
  });

  it('resumes shadow comparisons left open by a crash: each recorded once, nothing run twice', async () => {
    await put({ mode: 'rollout', rollout_percent: 50, shadow: true, shadow_percent: 100 });
    await v2c.request('POST', '/__control', { latency_ms: 1500 });
    const c = await createClient(allot, 'shadow-crash', 'enterprise');
    const ids = await submitMany(allot.as(c.key), 10, 10, (i) => ({ text: text(7000 + i, 3), sentences: 2 }));
    await until(async () => (await migration()).shadow_results.comparing === 10, 10_000, 'ten comparisons under way');
    const v2Before = await v2Stats();
    await allot.stop('SIGKILL');
    allot = await startAllot(files);
    await v2c.request('POST', '/__control', { latency_ms: 20 });
    await until(async () => {
      const rows = (await allot.admin.request<{ results: ShadowRow[] }>('GET', '/admin/migration/shadow?limit=1000')).body.results;
      return ids.every((id) => rows.some((r) => r.request_id === id));
    }, 30_000, 'the ten comparisons to be recorded after the restart');
    await settled('everything to finish');
    const rows = (await allot.admin.request<{ results: ShadowRow[] }>('GET', '/admin/migration/shadow?limit=1000')).body.results.filter((r) => ids.includes(r.request_id));
    assert.equal(rows.length, 10, 'each recorded once');
    for (const r of rows) assert.ok(!r.differences.includes('status') && !r.differences.includes('output'), JSON.stringify(r));
    const s = await v2Stats();
    assert.equal(s.max_runs_per_request_id, 1, 'v2 ran no copy or primary twice');
    assert.ok(s.executed - v2Before.executed <= 10, 'after the restart v2 ran only what it had not already been given');
    await put({ shadow: false });
  });

  it('cancels a request running in v2 in Allot at once, and in v2 too', async () => {
    await put({ mode: 'v2', shadow: false });
    await v2c.request('POST', '/__control', { latency_ms: 10_000 });
    const c = await createClient(allot, 'cancel', 'enterprise');
    const api = allot.as(c.key);
    const [id] = await submitMany(api, 1, 1, () => ({ text: text(7000, 3), sentences: 2 }));
    let externalId = '';
    await until(async () => {
      externalId = (await api.request<View>('GET', `/api/execution/${id}`)).body.external_id ?? '';
      return externalId !== '';
    }, 10_000, 'v2 to take the request');
    const r = await api.request<View & { hold_usd: number }>('POST', `/api/execution/${id}/cancel`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'CANCELLED');
    assert.equal(r.body.hold_usd, 0, 'the budget hold is released at once');
    await until(async () => (await v2c.request<{ status: string }>('GET', `/api/executions/${externalId}`)).body.status === 'cancelled', 10_000, 'v2 to cancel its execution');
    await v2c.request('POST', '/__control', { latency_ms: 20 });
  });

  it('documents the migration endpoints in /openapi.json', async () => {
    const doc = await allot.admin.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json');
    for (const [path, method] of [['/admin/migration', 'get'], ['/admin/migration', 'put'], ['/admin/migration/rollback', 'post'], ['/admin/migration/resume', 'post'], ['/admin/migration/shadow', 'get']] as const) {
      assert.ok(doc.body.paths[path]?.[method], `${method.toUpperCase()} ${path}`);
    }
    const bad = await allot.admin.request<{ error: { code: string; details: { fields: { field: string }[] } } }>('PUT', '/admin/migration', { rollout_percent: 101 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.fields[0]?.field, 'rollout_percent');
  });

  it('`allot migrate compare` prints p50, p95 and p99 latency and cost for v2 and Allot', async () => {
    await put({ mode: 'allot', shadow: false });
    // The stand-in takes as long per request as the summarizer (100 ms), so the gap is each system's own overhead.
    await v2c.request('POST', '/__control', { latency_ms: 100 });
    const c = await createClient(allot, 'compare', 'enterprise');
    const out = await run(NODE, [join(ROOT, 'bin/allot.ts'), 'migrate', 'compare', '--v2', v2.url, '--allot', allot.url, '--requests', '30', '--concurrency', '4'], {
      env: { ...process.env, ALLOT_API_KEY: c.key },
    });
    for (const system of ['v2', 'allot']) {
      assert.match(out.stdout, new RegExp(`^${system} +p50 +[\\d.]+ ms +p95 +[\\d.]+ ms +p99 +[\\d.]+ ms .*cost total \\$[\\d.]+ mean \\$[\\d.]+ +\\(30 ok, 0 failed\\)$`, 'm'), out.stdout);
    }
    assert.doesNotMatch(out.stdout, /ran in: v2/, 'in mode allot, Allot ran its side itself');
    process.stdout.write(`# migrate compare (30 requests, concurrency 4):\n${out.stdout.replace(/^/gm, '# ')}\n`);
  });
});
