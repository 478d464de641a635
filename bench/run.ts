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
 *  6. pickup latency at light load (`pickup`): open-loop arrivals at --pickup-rate (25/s, the peers' rate) for
 *     --seconds, once with the push worker and once with the pull worker (bench/pickup-worker.ts: the no-op
 *     workers of examples/noop whose handler notes when it starts); p50/p99/p99.9 of "client sends
 *     POST /api/queue/enqueue → the worker's handler starts", as bench/peers/peer.ts measures "add → handler starts"
 *  7. big inputs (`big-inputs`): 8 senders of one client POST 1 MB inputs (counted on Allot's tokenizer thread)
 *     while another client's small submissions and /health are timed; the target is p99 under 50 ms
 *     (test/e2e/big-inputs.test.ts checks only that the event loop is not blocked)
 *  8. with --backends=…,postgres: Allot on PostgreSQL + Redis (one instance, a fresh schema and key prefix, as
 *     bench/scale-out.ts starts it) through phases 2, 3, 5, 6 and 7
 *  9. the peers (BullMQ on Redis, graphile-worker plain and batched, pg-boss on PostgreSQL) through the same
 *     phases, each in its own process (bench/peers/peer.ts), printed beside Allot
 *
 * Options: --sync=NORMAL|FULL (ALLOT_DB_SYNC) --seconds=10 --drain=20000
 * --phases=c1,c50,drain,pull-c50,pull-drain,latency,pickup,big-inputs,peers --rate=N (arrival rate of the latency phase;
 * default half of phase 2's) --pickup-rate=25 (of the pickup phase, and the peers')
 * --resources=none|bucket|pools (what the no-op template needs: nothing, a token
 * resource, or a token resource split into reserved pools)
 * --backends=sqlite,postgres (default: both if PostgreSQL and Redis answer at ALLOT_BENCH_PG_URL /
 * ALLOT_TEST_PG_URL and ALLOT_BENCH_REDIS_URL / ALLOT_TEST_REDIS_URL, or the local defaults; else sqlite, with a
 * note). ALLOT_BENCH_PROFILE=<dir> writes a V8 CPU profile of each Allot process there.
 */
import http from 'node:http';
import { join } from 'node:path';

// `--backend postgres [--instances 1,2,3]`: the scale-out bench (bench/scale-out.ts) instead.
if (process.argv.some((a) => a === '--backend' || a.startsWith('--backend='))) {
  await import('./scale-out.ts');
  process.exit(0);
}
import { Client, percentile, ROOT, sleep, type Proc } from '../test/helpers/proc.ts';
import { prose } from '../test/helpers/prose.ts';
import { completedCount, cpuMs, peakRssMb, postgresUnreachable, startAllot, type Backend } from './allot.ts';

const PULL_TOKEN = 'bench-pull-worker-token-01';
const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SECONDS = Number(args.get('seconds') ?? 10);
const DRAIN_N = Number(args.get('drain') ?? 20_000);
const RESOURCES = args.get('resources') ?? 'none';
/** Arrivals per second of the pickup phase (and the peers' pickup, bench/peers/peer.ts --rate). */
const PICKUP_RATE = Number(args.get('pickup-rate') ?? 25);
/** ALLOT_DB_SYNC for Allot: NORMAL (the default) or FULL (fsync at every group commit). */
const SYNC = args.get('sync') ?? 'NORMAL';
if (!['NORMAL', 'FULL'].includes(SYNC)) throw new Error(`--sync must be NORMAL or FULL, got "${SYNC}"`);
if (!['none', 'bucket', 'pools'].includes(RESOURCES)) throw new Error(`--resources must be none, bucket or pools, got "${RESOURCES}"`);
if (!(PICKUP_RATE > 0)) throw new Error(`--pickup-rate must be a positive number, got "${args.get('pickup-rate')}"`);

/** Which backends Allot runs on: --backends, else both if PostgreSQL and Redis answer, else SQLite (said so). */
async function chooseBackends(): Promise<Backend[]> {
  const given = args.get('backends');
  if (given !== undefined) {
    const list = given.split(',').filter(Boolean);
    for (const b of list) if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--backends takes sqlite and/or postgres, got "${b}"`);
    if (list.length === 0) throw new Error('--backends: name at least one of sqlite, postgres');
    const why = list.includes('postgres') ? await postgresUnreachable() : null;
    if (why) throw new Error(`--backends=${given}: ${why}`);
    return list as Backend[];
  }
  const why = await postgresUnreachable();
  if (why === null) return ['sqlite', 'postgres'];
  process.stdout.write(`Note: Allot on PostgreSQL + Redis is left out of this run (${why}); set ALLOT_BENCH_PG_URL / ALLOT_BENCH_REDIS_URL (or ALLOT_TEST_…) to include it.\n`);
  return ['sqlite'];
}
const BACKENDS = await chooseBackends();

interface Env {
  allot: Proc;
  /** Where Allot listens. */
  url: string;
  worker: Proc;
  admin: Client;
  client: Client;
  /** What the workers printed (the pickup workers: a line per timed job). */
  workerOutput(): string;
  stop(): Promise<void>;
}

/**
 * A fresh Allot (SQLite file, or PostgreSQL schema + Redis prefix) with the no-op push and pull workers; for the
 * pickup phase (`timed`) the same workers from bench/pickup-worker.ts, which print when each handler starts.
 */
async function setup(backend: Backend, timed = false): Promise<Env> {
  // --resources=none (default): the no-op template needs nothing. --resources=bucket: it needs
  // tokens of one model resource. --resources=pools: that resource is split into pools.
  const tokens = { kind: 'tokens', model: 'bench', unit: 'token', capacity: 1e9, refill_per_s: 1e9, cost_per_unit_usd: 0.000001 };
  const pools = [
    { name: 'ent', kind: 'reserved', tier: 'enterprise', share: 0.3 },
    { name: 'std', kind: 'reserved', tier: 'standard', share: 0.2 },
  ];
  const needs = RESOURCES === 'none' ? {} : { model: 'bench', max_tokens: 16 };
  const timedWorker = join(ROOT, 'bench/pickup-worker.ts');
  const a = await startAllot({
    backend,
    config: (workerUrl) => ({
      workers: {
        noop: { transport: 'http', url: workerUrl, max_concurrency: 64 },
        // The same no-op work, asked for by a pull worker (started once Allot listens).
        'noop-pull': { transport: 'pull', token: PULL_TOKEN, max_concurrency: 1_000 },
      },
      templates: {
        noop: { worker: 'noop', timeout_ms: 30_000, ...needs }, 'noop-pull': { worker: 'noop-pull', timeout_ms: 30_000, ...needs },
        // The big-inputs phase's: its input counted in gpt-4o-mini's encoding (o200k_base).
        digest: { worker: 'noop', model: 'gpt-4o-mini', max_tokens: 100 },
      },
      resources: {
        'llm.big': { kind: 'tokens', model: 'gpt-4o-mini', unit: 'token', capacity: 1e9, refill_per_s: 1e9, cost_per_unit_usd: 0.00000015 },
        ...(RESOURCES === 'none' ? {} : { 'bench.tokens': RESOURCES === 'pools' ? { ...tokens, pools } : tokens }),
      },
      limits: { max_body_bytes: 2 * 1024 * 1024 },
      scheduler: { max_queue_depth: 200_000 },
    }),
    env: backend === 'sqlite' ? { ALLOT_DB_SYNC: SYNC } : {},
    worker: timed ? [timedWorker, 'push', '--port', '0'] : undefined,
    pullers: (allotUrl) => [[timed ? timedWorker : join(ROOT, 'examples/noop/pull.ts'), ...(timed ? ['pull'] : []), '--url', allotUrl, '--token', PULL_TOKEN, '--name', 'noop-pull', '--concurrency', '50']],
  });
  return {
    allot: a.procs[0] as Proc, url: a.urls[0] as string, worker: a.worker, admin: a.admins[0] as Client, client: a.clients[0] as Client,
    workerOutput: () => [a.worker, ...a.pullers].map((p) => p.output()).join('\n'),
    stop: () => a.stop(),
  };
}

const JOB = { template: 'noop', input: { n: 1 } as Record<string, unknown> };
/** The same request for the pull worker. */
const PULL_JOB = { template: 'noop-pull', input: { n: 1 } as Record<string, unknown> };

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
  let last = { done: 0, at: t1 };
  for (;;) {
    const done = (await completedCount(env.admin)) - before;
    if (done >= n) break;
    if (done > last.done) last = { done, at: performance.now() };
    else if (performance.now() - last.at > 60_000) throw new Error(`drain stalled: ${done} of ${n} completed, none in the last 60 s`);
    await sleep(100);
  }
  const seconds = (performance.now() - t1) / 1000;
  return { rate: n / seconds, enqueueRate, seconds, cpuMsPer1k: ((cpuMs(env.allot) - cpu0) / n) * 1000, peakRssMb: peakRssMb(env.allot) };
}

/** Open loop at `rate`/s for `seconds`: submissions do not wait for each other. `job(k)` is the k-th (from 0). */
async function openLoop(env: Env, rate: number, seconds: number, job: (k: number) => typeof JOB = () => JOB): Promise<{ sent: number; errors: number }> {
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor((performance.now() - start) / interval);
    while (sent < due) {
      const p = env.client.request('POST', '/api/queue/enqueue', job(sent++)).then((r) => {
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

interface Pickup {
  sent: number;
  errors: number;
  /** Jobs whose handler start was seen. */
  seen: number;
  p50: number;
  p99: number;
  p999: number;
}
const noPickup: Pickup = { sent: 0, errors: 0, seen: 0, p50: NaN, p99: NaN, p999: NaN };

/** The clock both ends read: process.hrtime (CLOCK_MONOTONIC, one clock for every process on this machine), ms. */
const hrNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Pickup latency at `rate`/s, open loop for `seconds`, as bench/peers/peer.ts measures the peers' (its clock read
 * just before `add`, and again as the handler starts). Here: the clock is read just before this process sends
 * POST /api/queue/enqueue (into the job's input as `t`), and again as the worker's handler starts
 * (bench/pickup-worker.ts). It includes the client → Allot HTTP request, admission and the durable insert, the
 * scheduling pass and the dispatch (push: Allot's POST to the worker; pull: the answer to the worker's waiting
 * long poll), and the worker's parsing of the job; not the 202 back to the client, nor the result going back.
 * The peers' includes their insert, their notification or poll and fetch, in one process.
 */
async function pickup(env: Env, job: typeof JOB, rate: number, seconds: number): Promise<Pickup> {
  const r = await openLoop(env, rate, seconds, (k) => ({ template: job.template, input: { ...job.input, k, t: hrNow() } }));
  // Every accepted one started (or 10 s passed: those are left out, and `seen` says how many were seen).
  const seen = new Map<number, number>();
  const until = performance.now() + 10_000;
  for (;;) {
    for (const m of env.workerOutput().matchAll(/^pickup (\d+) ([\d.]+)$/gm)) {
      const k = Number(m[1]);
      if (k < r.sent && !seen.has(k)) seen.set(k, Number(m[2]));
    }
    if (seen.size >= r.sent - r.errors || performance.now() > until) break;
    await sleep(50);
  }
  const ms = [...seen.values()].toSorted((a, b) => a - b);
  return { ...r, seen: ms.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), p999: percentile(ms, 0.999) };
}

interface BigInputs {
  light: { n: number; p50: number; p99: number };
  health: { n: number; p50: number; p99: number };
  megabytes: number;
  errors: number;
}
const noBig: BigInputs = { light: { n: 0, p50: NaN, p99: NaN }, health: { n: 0, p50: NaN, p99: NaN }, megabytes: 0, errors: 0 };

/** POST a body serialized beforehand (a megabyte is not serialized again for every send); resolves with the status. */
function postRaw(base: string, path: string, key: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${key}` },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Big inputs beside small ones (test/e2e/big-inputs.test.ts asserts only that the event loop is not blocked; the
 * target is here): 8 senders of one client each POST a 1 MB input (template `digest`, counted in gpt-4o-mini's
 * encoding on Allot's tokenizer thread) `rounds` times back to back, while another client submits a small request
 * and /health is read, each every 5 ms. Their latencies, measured here; the target is p99 under 50 ms.
 */
async function bigInputs(env: Env, rounds = 6): Promise<BigInputs> {
  const mk = async (name: string, tier: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const r = await env.admin.request<{ api_key: string }>('POST', '/admin/clients', { name, tier, ...extra });
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /admin/clients answered ${r.status}`);
    return r.body.api_key;
  };
  const heavyKey = await mk('heavy', 'enterprise', { monthly_budget_usd: 1000 });
  const light = env.client.withKey(await mk('light', 'premium'));
  const health = env.client.withKey('');
  const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(JSON.stringify({ template: 'digest', input: { text: prose(i + 1, 1_000_000) } })));
  const small = { template: 'digest', input: { text: 'What is a token bucket?' } };
  for (let i = 0; i < 20; i++) await light.request('POST', '/api/queue/enqueue', { template: 'digest', input: { text: `warm ${i}` } });
  await postRaw(env.url, '/api/queue/enqueue', heavyKey, Buffer.from(JSON.stringify({ template: 'digest', input: { text: prose(99, 20_000) } })));
  let finished = false;
  let errors = 0;
  const heavy = Promise.all(bodies.map(async (b) => {
    for (let round = 0; round < rounds; round++) if ((await postRaw(env.url, '/api/queue/enqueue', heavyKey, b)) !== 202) errors++;
  })).finally(() => {
    finished = true;
  });
  const done = (): boolean => finished;
  const probe = async (fn: () => Promise<boolean>): Promise<number[]> => {
    const out: number[] = [];
    while (!done()) {
      const t0 = performance.now();
      if (!(await fn())) errors++;
      out.push(performance.now() - t0);
      await sleep(5);
    }
    return out.toSorted((a, b) => a - b);
  };
  const [, lightMs, healthMs] = await Promise.all([
    heavy,
    probe(async () => (await light.request('POST', '/api/queue/enqueue', small)).status === 202),
    probe(async () => (await health.request('GET', '/health')).status === 200),
  ]);
  light.close();
  health.close();
  const q = (xs: number[]) => ({ n: xs.length, p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) });
  return { light: q(lightMs), health: q(healthMs), megabytes: 8 * rounds, errors };
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

/**
 * One phase on a fresh Allot: warm up (JIT, connections, database pages) with 8 callers for 1 s of each of
 * `warm`, then `fn`.
 */
async function phase<T>(name: string, fn: (env: Env) => Promise<T>, backend: Backend = 'sqlite', opts: { timed?: boolean; warm?: (typeof JOB)[] } = {}): Promise<T> {
  process.stdout.write(`… ${name}${backend === 'postgres' ? ' (PostgreSQL + Redis)' : ''}\n`);
  const env = await setup(backend, opts.timed);
  try {
    for (const job of opts.warm ?? [JOB]) await closedLoop(env.client, 8, 1, job);
    return await fn(env);
  } finally {
    await env.stop();
  }
}

const PHASES = new Set((args.get('phases') ?? 'c1,c50,drain,pull-c50,pull-drain,latency,pickup,big-inputs,peers').split(','));
type E2e = { rps: number; p50: number; p99: number; errors: number };
type Drain = Awaited<ReturnType<typeof drain>>;
const none: E2e = { rps: NaN, p50: NaN, p99: NaN, errors: 0 };
const noDrain: Drain = { rate: NaN, enqueueRate: NaN, seconds: NaN, cpuMsPer1k: NaN, peakRssMb: NaN };

interface Results {
  c1: E2e;
  c50: E2e;
  dr: Drain;
  p50: E2e;
  pdr: Drain;
  half: number;
  lat: { sent: number; errors: number; q: Record<string, number> };
  pickPush: Pickup;
  pickPull: Pickup;
  big: BigInputs;
}

/** The phases on one backend; on PostgreSQL only c50, drain, pull-c50, pull-drain and pickup. */
async function runAllot(backend: Backend): Promise<Results> {
  const all = backend === 'sqlite';
  const c1 = all && PHASES.has('c1') ? await phase('end to end, concurrency 1', (env) => closedLoop(env.client, 1, SECONDS), backend) : none;
  const c50 = PHASES.has('c50') ? await phase('end to end, concurrency 50', (env) => closedLoop(env.client, 50, SECONDS), backend) : none;
  const dr = PHASES.has('drain') ? await phase(`drain of ${DRAIN_N} queued requests`, (env) => drain(env, DRAIN_N), backend) : noDrain;
  const p50 = PHASES.has('pull-c50') ? await phase('end to end, concurrency 50, pull worker', (env) => closedLoop(env.client, 50, SECONDS, PULL_JOB), backend) : none;
  const pdr = PHASES.has('pull-drain') ? await phase(`drain of ${DRAIN_N} queued requests, pull worker`, (env) => drain(env, DRAIN_N, PULL_JOB, true), backend) : noDrain;
  const half = Number(args.get('rate') ?? Math.max(1, Math.round(c50.rps / 2)));
  const lat = all && PHASES.has('latency') && Number.isFinite(half)
    ? await phase(`added latency at half load (${half}/s open loop)`, async (env) => {
        const r = await openLoop(env, half, SECONDS);
        await sleep(500);
        return { ...r, q: await dispatchQuantiles(env.admin) };
      }, backend)
    : { sent: 0, errors: 0, q: {} as Record<string, number> };
  const timed = { timed: true, warm: [JOB, PULL_JOB] };
  const pickPush = PHASES.has('pickup') ? await phase(`pickup latency at ${PICKUP_RATE}/s open loop, push worker`, (env) => pickup(env, JOB, PICKUP_RATE, SECONDS), backend, timed) : noPickup;
  const pickPull = PHASES.has('pickup') ? await phase(`pickup latency at ${PICKUP_RATE}/s open loop, pull worker`, (env) => pickup(env, PULL_JOB, PICKUP_RATE, SECONDS), backend, timed) : noPickup;
  const big = PHASES.has('big-inputs') ? await phase('8 senders of 1 MB inputs beside small submissions and /health', (env) => bigInputs(env), backend) : noBig;
  return { c1, c50, dr, p50, pdr, half, lat, pickPush, pickPull, big };
}

const results = new Map<Backend, Results>();
for (const b of BACKENDS) results.set(b, await runAllot(b));

const f = (v: number, d = 0): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pickupRow = (label: string, p: Pickup): string[] => [
  `pickup p50 at ${f(PICKUP_RATE)}/s, ${label}`, `${f(p.p50, 2)} ms`,
  `p99 ${f(p.p99, 2)} ms, p99.9 ${f(p.p999, 2)} ms; client sends enqueue → worker's handler starts; sent ${p.sent}, started ${p.seen}, errors ${p.errors}`,
];
function allotRows(r: Results, backend: Backend): string[][] {
  const { c1, c50, dr, p50, pdr, half, lat } = r;
  const rows = [
    ...(backend === 'sqlite' ? [['end-to-end req/s, concurrency 1', f(c1.rps), `client p50 ${f(c1.p50, 2)} ms, p99 ${f(c1.p99, 2)} ms, errors ${c1.errors}`]] : []),
    ['end-to-end req/s, concurrency 50', f(c50.rps), `client p50 ${f(c50.p50, 2)} ms, p99 ${f(c50.p99, 2)} ms, errors ${c50.errors}`],
    [`drain of ${f(DRAIN_N)} queued, req/s`, f(dr.rate), `${f(dr.seconds, 2)} s; enqueue ran at ${f(dr.enqueueRate)} req/s; ${f(dr.cpuMsPer1k)} CPU ms / 1,000; peak RSS ${f(dr.peakRssMb)} MB`],
    ['end-to-end req/s, concurrency 50, pull worker', f(p50.rps), `client p50 ${f(p50.p50, 2)} ms, p99 ${f(p50.p99, 2)} ms, errors ${p50.errors}`],
    [`drain of ${f(DRAIN_N)} queued, pull worker, req/s`, f(pdr.rate), `${f(pdr.seconds, 2)} s; the worker asks for up to 50 at once; bulk enqueue ran at ${f(pdr.enqueueRate)} req/s; ${f(pdr.cpuMsPer1k)} CPU ms / 1,000; peak RSS ${f(pdr.peakRssMb)} MB`],
    ...(backend === 'sqlite' ? [
      [`dispatch delay p50 at ${f(half)}/s`, `${f(lat.q['0.5'] ?? NaN, 3)} ms`, 'runnable → sent to worker, inside Allot'],
      [`dispatch delay p99 at ${f(half)}/s`, `${f(lat.q['0.99'] ?? NaN, 3)} ms`, `p99.9 ${f(lat.q['0.999'] ?? NaN, 3)} ms; sent ${lat.sent}, errors ${lat.errors}`],
      ['event-loop lag in that phase', `${f(lat.q.lag_p99 ?? NaN, 3)} ms`, `p99 (p50 ${f(lat.q.lag_p50 ?? NaN, 3)} ms, max ${f(lat.q.lag_max ?? NaN, 3)} ms), from prom-client`],
    ] : []),
    pickupRow('push worker', r.pickPush),
    pickupRow('pull worker', r.pickPull),
    ['small submissions beside 1 MB inputs, p99', `${f(r.big.light.p99, 2)} ms`, `p50 ${f(r.big.light.p50, 2)} ms, n ${r.big.light.n}; target p99 < 50 ms; 8 senders × ${r.big.megabytes / 8} inputs of 1 MB from another client; errors ${r.big.errors}`],
    ['/health beside 1 MB inputs, p99', `${f(r.big.health.p99, 2)} ms`, `p50 ${f(r.big.health.p50, 2)} ms, n ${r.big.health.n}; target p99 < 50 ms`],
  ];
  return rows;
}
function printRows(rows: string[][]): void {
  const w0 = Math.max(...rows.map((r) => (r[0] as string).length));
  const w1 = Math.max(...rows.map((r) => (r[1] as string).length));
  for (const r of rows) process.stdout.write(`  ${(r[0] as string).padEnd(w0)}  ${(r[1] as string).padStart(w1)}  ${r[2]}\n`);
}
const needsText = RESOURCES === 'none' ? 'nothing' : RESOURCES === 'bucket' ? 'a token bucket' : 'a token bucket split into pools';
const sq = results.get('sqlite');
if (sq) {
  process.stdout.write(`\nAllot bench (no-op HTTP worker on loopback, SQLite file, synchronous=${SYNC}, every transition durable; template needs: ${needsText})\n`);
  printRows(allotRows(sq, 'sqlite'));
}
const pgr = results.get('postgres');
if (pgr) {
  process.stdout.write(`\nAllot on PostgreSQL + Redis (one instance, a fresh schema and key prefix; no-op HTTP worker on loopback; template needs: ${needsText}; CPU and RSS: the Allot process only)\n`);
  printRows(allotRows(pgr, 'postgres'));
}

// The peers, each in a process of its own, through the same phases (bench/peers/peer.ts).
if (PHASES.has('peers')) {
  const peers: Record<string, number | string>[] = [];
  for (const name of ['bullmq', 'graphile', 'graphile-batched', 'pgboss']) {
    process.stdout.write(`… peer ${name}\n`);
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'bench/peers/peer.ts'), name, `--n=${DRAIN_N}`, `--seconds=${SECONDS}`, `--rate=${PICKUP_RATE}`], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      peers.push(JSON.parse(line) as Record<string, number | string>);
    } catch {
      process.stdout.write(`  ${name} did not finish: ${(r.stderr || r.stdout).slice(-500)}\n`);
    }
  }
  const allotTableRows = (r: Results, label: string): Record<string, number | string>[] => [
    { peer: `Allot push${label}`, drain: r.dr.rate, e2e: r.c50.rps, enqueue: r.dr.enqueueRate, cpuMsPer1k: r.dr.cpuMsPer1k, pickupP50: r.pickPush.p50, pickupP99: r.pickPush.p99, peakRssMb: r.dr.peakRssMb },
    { peer: `Allot pull${label}`, drain: r.pdr.rate, e2e: r.p50.rps, enqueue: r.pdr.enqueueRate, cpuMsPer1k: r.pdr.cpuMsPer1k, pickupP50: r.pickPull.p50, pickupP99: r.pickPull.p99, peakRssMb: r.pdr.peakRssMb },
  ];
  const table = [...(sq ? allotTableRows(sq, ' (SQLite)') : []), ...(pgr ? allotTableRows(pgr, ' (PostgreSQL)') : []), ...peers];
  const cols = ['peer', 'drain', 'e2e', 'enqueue', 'cpuMsPer1k', 'pickupP50', 'pickupP99', 'peakRssMb'] as const;
  const heads = ['system', `drain of ${f(DRAIN_N)}/s`, 'e2e/s (50 in flight)', 'enqueue/s', 'CPU ms/1,000 drained', `pickup p50 ms`, `pickup p99 ms`, 'peak RSS MB'];
  const cell = (row: Record<string, unknown>, c: (typeof cols)[number]): string => (c === 'peer' ? String(row[c]) : f(Number(row[c]), c.startsWith('pickup') ? 2 : 0));
  const widths = heads.map((h, i) => Math.max(h.length, ...table.map((row) => cell(row, cols[i] as (typeof cols)[number]).length)));
  process.stdout.write('\nBeside the peers, same machine, this run (Allot: SQLite file or PostgreSQL + Redis, HTTP; peers: no-op handler in the producer\'s process):\n');
  process.stdout.write(`  ${heads.map((h, i) => (i === 0 ? h.padEnd(widths[i] as number) : h.padStart(widths[i] as number))).join('  ')}\n`);
  for (const row of table) process.stdout.write(`  ${cols.map((c, i) => (i === 0 ? cell(row, c).padEnd(widths[i] as number) : cell(row, c).padStart(widths[i] as number))).join('  ')}\n`);
  for (const row of peers) process.stdout.write(`  ${row.peer}: ${row.config}\n`);
  process.stdout.write(`  pickup, at ${f(PICKUP_RATE)}/s open loop: Allot: client sends POST /api/queue/enqueue → the worker's handler starts (worker in its own process); peers: add → handler starts, in one process.\n`);
  process.stdout.write('  CPU and RSS: Allot\'s process (with SQLite in it), or the peer\'s; neither counts the PostgreSQL or Redis server.\n');
}
