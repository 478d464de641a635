/**
 * `npm run bench`: Allot's throughput and added latency with a no-op HTTP
 * worker on loopback. Every phase starts a fresh Allot process on a fresh
 * SQLite file (durable transitions, synchronous=NORMAL), a separate no-op
 * worker process, and drives load from this process over HTTP: two HTTP
 * hops per request (client → Allot, Allot → worker).
 *
 * Phases:
 *  1. end to end, concurrency 1: POST /api/execute in a loop (submit → COMPLETED)
 *  2. end to end, concurrency 50
 *  3. drain: 20,000 requests queued with the scheduler paused, then resumed
 *  4. added latency at half load: open-loop arrivals at 50% of phase 2's rate;
 *     p50/p99 of "runnable → dispatched" from Allot's own summary metric
 *
 *  5. the same end to end and drain with a pull worker (examples/noop/pull.ts, asking for up to 50 jobs at once),
 *     its queue filled by bulk submission (1,000 per call)
 *  6. the peers (BullMQ on Redis, graphile-worker plain and batched, pg-boss on PostgreSQL) through the same
 *     phases, each in its own process (bench/peers/peer.ts), printed beside Allot
 *
 * Options: --sync=NORMAL|FULL (ALLOT_DB_SYNC) --seconds=10 --drain=20000 --phases=c1,c50,drain,pull-c50,pull-drain,latency --rate=N
 * --resources=none|bucket|pools (what the no-op template needs: nothing, a token
 * resource, or a token resource split into reserved pools)
 * (arrival rate of the latency phase; default half of phase 2's). ALLOT_BENCH_PROFILE=<dir> writes a
 * V8 CPU profile of each Allot process there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// `--backend postgres [--instances 1,2,3]`: the scale-out bench (bench/scale-out.ts) instead.
if (process.argv.some((a) => a === '--backend' || a.startsWith('--backend='))) {
  await import('./scale-out.ts');
  process.exit(0);
}
import { Client, percentile, ROOT, sleep, startProcess, tempDir, writeJson, type Proc } from '../test/helpers/proc.ts';

const ADMIN = 'bench-admin-key-0123456789';
const PULL_TOKEN = 'bench-pull-worker-token-01';
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SECONDS = Number(args.get('seconds') ?? 10);
const DRAIN_N = Number(args.get('drain') ?? 20_000);
const RESOURCES = args.get('resources') ?? 'none';
/** ALLOT_DB_SYNC for Allot: NORMAL (the default) or FULL (fsync at every group commit). */
const SYNC = args.get('sync') ?? 'NORMAL';
if (!['NORMAL', 'FULL'].includes(SYNC)) throw new Error(`--sync must be NORMAL or FULL, got "${SYNC}"`);
if (!['none', 'bucket', 'pools'].includes(RESOURCES)) throw new Error(`--resources must be none, bucket or pools, got "${RESOURCES}"`);

interface Env {
  allot: Proc;
  worker: Proc;
  admin: Client;
  client: Client;
  stop(): Promise<void>;
}

async function setup(): Promise<Env> {
  const dir = tempDir('allot-bench-');
  const worker = await startProcess([join(ROOT, 'examples/noop/server.ts'), '--port', '0'], { ready: /listening on (http:\/\/\S+)/ });
  const workerUrl = /listening on (http:\/\/\S+)/.exec(worker.output())?.[1] as string;
  // --resources=none (default): the no-op template needs nothing. --resources=bucket: it needs
  // tokens of one model resource. --resources=pools: that resource is split into pools.
  const tokens = { kind: 'tokens', model: 'bench', unit: 'token', capacity: 1e9, refill_per_s: 1e9, cost_per_unit_usd: 0.000001 };
  const pools = [
    { name: 'ent', kind: 'reserved', tier: 'enterprise', share: 0.3 },
    { name: 'std', kind: 'reserved', tier: 'standard', share: 0.2 },
  ];
  const needs = RESOURCES === 'none' ? {} : { model: 'bench', max_tokens: 16 };
  writeJson(join(dir, 'config.json'), {
    workers: {
      noop: { transport: 'http', url: workerUrl, max_concurrency: 64 },
      // The same no-op work, asked for by a pull worker (started below, once Allot listens).
      'noop-pull': { transport: 'pull', token: PULL_TOKEN, max_concurrency: 1_000 },
    },
    templates: { noop: { worker: 'noop', timeout_ms: 30_000, ...needs }, 'noop-pull': { worker: 'noop-pull', timeout_ms: 30_000, ...needs } },
    ...(RESOURCES === 'none' ? {} : { resources: { 'bench.tokens': RESOURCES === 'pools' ? { ...tokens, pools } : tokens } }),
    scheduler: { max_queue_depth: 200_000 },
  });
  const allot = await startProcess([...(process.env.ALLOT_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ALLOT_BENCH_PROFILE}`] : []), join(ROOT, 'src/main.ts')], {
    env: { ALLOT_PORT: '0', ALLOT_DB: join(dir, 'allot.db'), ALLOT_CONFIG: join(dir, 'config.json'), ALLOT_ADMIN_KEY: ADMIN, ALLOT_LOG_LEVEL: 'warn', ALLOT_DB_SYNC: SYNC },
    ready: /Allot listening on (http:\/\/\S+)/,
  });
  const allotUrl = /Allot listening on (http:\/\/\S+)/.exec(allot.output())?.[1] as string;
  const puller = await startProcess([join(ROOT, 'examples/noop/pull.ts'), '--url', allotUrl, '--token', PULL_TOKEN, '--name', 'noop-pull', '--concurrency', '50'], { ready: /pulling from/ });
  const admin = new Client(allotUrl, ADMIN);
  const r = await admin.request<{ api_key: string }>('POST', '/admin/clients', { name: 'bench', tier: 'enterprise', max_concurrent: 10_000 });
  const client = admin.withKey(r.body.api_key);
  return {
    allot, worker, admin, client,
    async stop() {
      admin.close();
      client.close();
      await puller.stop();
      await allot.stop('SIGINT');
      await worker.stop();
    },
  };
}

const JOB = { template: 'noop', input: { n: 1 } };
/** The same request for the pull worker. */
const PULL_JOB = { template: 'noop-pull', input: { n: 1 } };

/** Closed loop: `concurrency` callers each POST /api/execute back to back for `seconds`. */
async function closedLoop(client: Client, concurrency: number, seconds: number, job: typeof JOB = JOB): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const r = await client.request<{ status: string }>('POST', '/api/execute', job);
        if (r.status !== 200 || r.body.status !== 'COMPLETED') errors++;
        else lat.push(performance.now() - t0);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { rps: lat.length / seconds, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), errors };
}

async function completedCount(admin: Client): Promise<number> {
  const s = await admin.request<{ requests: Record<string, number> }>('GET', '/status');
  return s.body.requests.COMPLETED ?? 0;
}

/** CPU ms (user + system) of a process so far, from /proc (Linux). */
function cpuMs(p: Proc): number {
  const stat = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ 100
}

/** Peak resident memory of a process, MB (VmHWM). */
function peakRssMb(p: Proc): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Queue `n` with the scheduler stopped, then start it and time the drain.
 * `bulk`: submitted 1,000 per POST /api/queue/enqueue/batch (4 at once), else one per POST (50 at once).
 */
async function drain(env: Env, n: number, job: typeof JOB = JOB, bulk = false): Promise<{ rate: number; enqueueRate: number; seconds: number; cpuMsPer1k: number; peakRssMb: number }> {
  await env.admin.request('POST', '/admin/scheduler/stop');
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: bulk ? 4 : 50 }, async () => {
      while (next < n) {
        if (bulk) {
          const k = Math.min(1_000, n - next);
          next += k;
          const r = await env.client.request<{ results: { request_id?: string }[] }>('POST', '/api/queue/enqueue/batch', { requests: Array.from({ length: k }, () => job) });
          if (r.status !== 200 || r.body.results.some((x) => !x.request_id)) throw new Error(`bulk enqueue answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
          continue;
        }
        next++;
        const r = await env.client.request('POST', '/api/queue/enqueue', job);
        if (r.status !== 202) throw new Error(`enqueue answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
    }),
  );
  const enqueueRate = n / ((performance.now() - t0) / 1000);
  const before = await completedCount(env.admin);
  const cpu0 = cpuMs(env.allot);
  const t1 = performance.now();
  await env.admin.request('POST', '/admin/scheduler/start');
  for (;;) {
    const done = (await completedCount(env.admin)) - before;
    if (done >= n) break;
    await sleep(100);
  }
  const seconds = (performance.now() - t1) / 1000;
  return { rate: n / seconds, enqueueRate, seconds, cpuMsPer1k: ((cpuMs(env.allot) - cpu0) / n) * 1000, peakRssMb: peakRssMb(env.allot) };
}

/** Open loop at `rate`/s for `seconds`: submissions do not wait for each other. */
async function openLoop(env: Env, rate: number, seconds: number): Promise<{ sent: number; errors: number }> {
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor((performance.now() - start) / interval);
    while (sent < due) {
      sent++;
      const p = env.client.request('POST', '/api/queue/enqueue', JOB).then((r) => {
        if (r.status !== 202) errors++;
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return { sent, errors };
}

async function dispatchQuantiles(admin: Client): Promise<Record<string, number>> {
  const m = await admin.request<string>('GET', '/metrics');
  const out: Record<string, number> = {};
  for (const line of String(m.body).split('\n')) {
    const x = /^allot_dispatch_delay_quantiles_seconds\{quantile="([\d.]+)"\} ([\d.e+-]+|NaN)/.exec(line);
    if (x) out[x[1] as string] = Number(x[2]) * 1000;
    const lag = /^allot_process_nodejs_eventloop_lag_(p50|p99|max)_seconds ([\d.e+-]+)/.exec(line);
    if (lag) out[`lag_${lag[1]}`] = Number(lag[2]) * 1000;
  }
  return out;
}

async function phase<T>(name: string, fn: (env: Env) => Promise<T>): Promise<T> {
  process.stdout.write(`… ${name}\n`);
  const env = await setup();
  try {
    await closedLoop(env.client, 8, 1); // warm-up: JIT, connections, SQLite pages
    return await fn(env);
  } finally {
    await env.stop();
  }
}

const PHASES = new Set((args.get('phases') ?? 'c1,c50,drain,pull-c50,pull-drain,latency,peers').split(','));
const none = { rps: NaN, p50: NaN, p99: NaN, errors: 0 };
const c1 = PHASES.has('c1') ? await phase('end to end, concurrency 1', (env) => closedLoop(env.client, 1, SECONDS)) : none;
const c50 = PHASES.has('c50') ? await phase('end to end, concurrency 50', (env) => closedLoop(env.client, 50, SECONDS)) : none;
const noDrain = { rate: NaN, enqueueRate: NaN, seconds: NaN, cpuMsPer1k: NaN, peakRssMb: NaN };
const dr = PHASES.has('drain') ? await phase(`drain of ${DRAIN_N} queued requests`, (env) => drain(env, DRAIN_N)) : noDrain;
const p50 = PHASES.has('pull-c50') ? await phase('end to end, concurrency 50, pull worker', (env) => closedLoop(env.client, 50, SECONDS, PULL_JOB)) : none;
const pdr = PHASES.has('pull-drain') ? await phase(`drain of ${DRAIN_N} queued requests, pull worker`, (env) => drain(env, DRAIN_N, PULL_JOB, true)) : noDrain;
const half = Number(args.get('rate') ?? Math.max(1, Math.round(c50.rps / 2)));
const lat = PHASES.has('latency') && Number.isFinite(half)
  ? await phase(`added latency at half load (${half}/s open loop)`, async (env) => {
      const r = await openLoop(env, half, SECONDS);
      await sleep(500);
      return { ...r, q: await dispatchQuantiles(env.admin) };
    })
  : { sent: 0, errors: 0, q: {} as Record<string, number> };

const f = (v: number, d = 0): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const rows = [
  ['end-to-end req/s, concurrency 1', f(c1.rps), `client p50 ${f(c1.p50, 2)} ms, p99 ${f(c1.p99, 2)} ms, errors ${c1.errors}`],
  ['end-to-end req/s, concurrency 50', f(c50.rps), `client p50 ${f(c50.p50, 2)} ms, p99 ${f(c50.p99, 2)} ms, errors ${c50.errors}`],
  [`drain of ${f(DRAIN_N)} queued, req/s`, f(dr.rate), `${f(dr.seconds, 2)} s; enqueue ran at ${f(dr.enqueueRate)} req/s; ${f(dr.cpuMsPer1k)} CPU ms / 1,000; peak RSS ${f(dr.peakRssMb)} MB`],
  ['end-to-end req/s, concurrency 50, pull worker', f(p50.rps), `client p50 ${f(p50.p50, 2)} ms, p99 ${f(p50.p99, 2)} ms, errors ${p50.errors}`],
  [`drain of ${f(DRAIN_N)} queued, pull worker, req/s`, f(pdr.rate), `${f(pdr.seconds, 2)} s; the worker asks for up to 50 at once; bulk enqueue ran at ${f(pdr.enqueueRate)} req/s; ${f(pdr.cpuMsPer1k)} CPU ms / 1,000; peak RSS ${f(pdr.peakRssMb)} MB`],
  [`dispatch delay p50 at ${f(half)}/s`, `${f(lat.q['0.5'] ?? NaN, 3)} ms`, 'runnable → sent to worker, inside Allot'],
  [`dispatch delay p99 at ${f(half)}/s`, `${f(lat.q['0.99'] ?? NaN, 3)} ms`, `p99.9 ${f(lat.q['0.999'] ?? NaN, 3)} ms; sent ${lat.sent}, errors ${lat.errors}`],
  ['event-loop lag in that phase', `${f(lat.q.lag_p99 ?? NaN, 3)} ms`, `p99 (p50 ${f(lat.q.lag_p50 ?? NaN, 3)} ms, max ${f(lat.q.lag_max ?? NaN, 3)} ms), from prom-client`],
];
const w0 = Math.max(...rows.map((r) => (r[0] as string).length));
const w1 = Math.max(...rows.map((r) => (r[1] as string).length));
process.stdout.write(`\nAllot bench (no-op HTTP worker on loopback, SQLite file, synchronous=${SYNC}, every transition durable; template needs: ${RESOURCES === 'none' ? 'nothing' : RESOURCES === 'bucket' ? 'a token bucket' : 'a token bucket split into pools'})\n`);
for (const r of rows) process.stdout.write(`  ${(r[0] as string).padEnd(w0)}  ${(r[1] as string).padStart(w1)}  ${r[2]}\n`);

// The peers, each in a process of its own, through the same phases (bench/peers/peer.ts).
if (PHASES.has('peers')) {
  const peers: Record<string, number | string>[] = [];
  for (const name of ['bullmq', 'graphile', 'graphile-batched', 'pgboss']) {
    process.stdout.write(`… peer ${name}\n`);
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'bench/peers/peer.ts'), name, `--n=${DRAIN_N}`, `--seconds=${SECONDS}`, '--rate=25'], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      peers.push(JSON.parse(line) as Record<string, number | string>);
    } catch {
      process.stdout.write(`  ${name} did not finish: ${(r.stderr || r.stdout).slice(-500)}\n`);
    }
  }
  const allotRow = { peer: 'Allot push', drain: dr.rate, e2e: c50.rps, enqueue: dr.enqueueRate, cpuMsPer1k: dr.cpuMsPer1k, pickupP50: lat.q['0.5'] ?? NaN, pickupP99: lat.q['0.99'] ?? NaN, peakRssMb: dr.peakRssMb };
  const pullRow = { peer: 'Allot pull', drain: pdr.rate, e2e: p50.rps, enqueue: pdr.enqueueRate, cpuMsPer1k: pdr.cpuMsPer1k, pickupP50: NaN, pickupP99: NaN, peakRssMb: pdr.peakRssMb };
  const table = [allotRow, pullRow, ...peers];
  const cols = ['peer', 'drain', 'e2e', 'enqueue', 'cpuMsPer1k', 'pickupP50', 'pickupP99', 'peakRssMb'] as const;
  const heads = ['system', `drain of ${f(DRAIN_N)}/s`, 'e2e/s (50 in flight)', 'enqueue/s', 'CPU ms/1,000 drained', 'pickup p50 ms', 'pickup p99 ms', 'peak RSS MB'];
  const cell = (row: Record<string, unknown>, c: (typeof cols)[number]): string => (c === 'peer' ? String(row[c]) : f(Number(row[c]), c.startsWith('pickup') ? 2 : 0));
  const widths = heads.map((h, i) => Math.max(h.length, ...table.map((row) => cell(row, cols[i] as (typeof cols)[number]).length)));
  process.stdout.write('\nBeside the peers, same machine, this run (Allot: SQLite file, HTTP; peers: no-op handler in the producer\'s process):\n');
  process.stdout.write(`  ${heads.map((h, i) => (i === 0 ? h.padEnd(widths[i] as number) : h.padStart(widths[i] as number))).join('  ')}\n`);
  for (const row of table) process.stdout.write(`  ${cols.map((c, i) => (i === 0 ? cell(row, c).padEnd(widths[i] as number) : cell(row, c).padStart(widths[i] as number))).join('  ')}\n`);
  for (const row of peers) process.stdout.write(`  ${row.peer}: ${row.config}\n`);
  process.stdout.write('  Allot pickup: runnable → sent to the worker, inside Allot (dispatch delay at half load); peers: add → handler starts, at 25/s.\n');
}
