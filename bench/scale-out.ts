/**
 * `npm run bench -- --backend=postgres --instances=1,2,3`: Allot scaled out.
 * For each instance count, N Allot processes on a fresh PostgreSQL schema
 * and Redis prefix (ALLOT_TEST_PG_URL / ALLOT_TEST_REDIS_URL, or
 * ALLOT_BENCH_PG_URL / ALLOT_BENCH_REDIS_URL), beside one Allot on SQLite,
 * each with a no-op HTTP worker process; load from this process, each
 * caller bound to one instance in turn:
 *  - end to end: `--concurrency` callers POST /api/execute back to back for `--seconds`;
 *  - drain: `--drain` requests queued with the scheduler stopped, then started;
 *  - CPU: user + system time of the Allot processes (from /proc) per 1,000
 *    requests completed, over both phases.
 * The phases run one backend after another in one run, so the ratios
 * between them are what to read on a shared machine. ALLOT_BENCH_PROFILE=<dir>
 * writes a V8 CPU profile of each Allot process there.
 */
import { Client, percentile, sleep, type Proc } from '../test/helpers/proc.ts';
import { completedCount, cpuMs, startAllot } from './allot.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return dflt;
  const a = argv[i] as string;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : (argv[i + 1] ?? dflt);
};
const INSTANCES = opt('instances', '1,2,3').split(',').map(Number);
const SECONDS = Number(opt('seconds', '10'));
const CONCURRENCY = Number(opt('concurrency', '50'));
const DRAIN_N = Number(opt('drain', '5000'));

interface Cluster {
  readonly label: string;
  readonly procs: Proc[];
  readonly admins: Client[];
  readonly clients: Client[];
  stop(): Promise<void>;
}

/** `n` Allot processes on a fresh SQLite file or PostgreSQL schema and Redis prefix (bench/allot.ts), with a no-op HTTP worker. */
async function start(label: string, n: number, postgres: boolean): Promise<Cluster> {
  const a = await startAllot({
    backend: postgres ? 'postgres' : 'sqlite',
    instances: n,
    config: (workerUrl) => ({
      workers: { noop: { transport: 'http', url: workerUrl, max_concurrency: 64 } },
      templates: { noop: { worker: 'noop', timeout_ms: 30_000 } },
      scheduler: { max_queue_depth: 200_000 },
    }),
  });
  return { label, procs: a.procs, admins: a.admins, clients: a.clients, stop: () => a.stop() };
}

function completed(c: Cluster): Promise<number> {
  return completedCount(c.admins[0] as Client);
}

const JOB = { template: 'noop', input: { n: 1 } };

/** What the first errors were, printed after the table. */
const errorSamples: string[] = [];

async function endToEnd(c: Cluster): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, i) => {
    const client = c.clients[i % c.clients.length] as Client;
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = await client.request<{ status: string }>('POST', '/api/execute', JOB);
      if (r.status !== 200 || r.body.status !== 'COMPLETED') {
        errors++;
        if (errorSamples.length < 5) {
          const id = (r.body as { request_id?: string }).request_id;
          const trail = id ? (await (c.admins[0] as Client).request<{ entries: { at_ms: number; from: string; to: string; actor: string }[] }>('GET', `/admin/audit?request_id=${id}`)).body.entries : [];
          errorSamples.push(`${c.label}: ${r.status} after ${Math.round(performance.now() - t0)} ms ${JSON.stringify(r.body).slice(0, 200)}\n    trail: ${trail.map((e) => `${e.from}→${e.to} by ${e.actor} at +${e.at_ms - (trail[0]?.at_ms ?? 0)} ms`).join(', ')}`);
        }
      } else lat.push(performance.now() - t0);
    }
  }));
  lat.sort((a, b) => a - b);
  return { rps: lat.length / SECONDS, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), errors };
}

async function drain(c: Cluster): Promise<{ rate: number; enqueueRate: number }> {
  await (c.admins[0] as Client).request('POST', '/admin/scheduler/stop');
  await sleep(1_500); // every instance hears of it
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, i) => {
    const client = c.clients[i % c.clients.length] as Client;
    while (next < DRAIN_N) {
      next++;
      const r = await client.request('POST', '/api/queue/enqueue', JOB);
      if (r.status !== 202) throw new Error(`enqueue answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
  }));
  const enqueueRate = DRAIN_N / ((performance.now() - t0) / 1000);
  const before = await completed(c);
  const t1 = performance.now();
  await (c.admins[0] as Client).request('POST', '/admin/scheduler/start');
  while ((await completed(c)) - before < DRAIN_N) await sleep(100);
  return { rate: DRAIN_N / ((performance.now() - t1) / 1000), enqueueRate };
}

const f = (v: number, d = 0): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const rows: string[][] = [];
for (const [label, n, postgres] of [['sqlite, 1 instance', 1, false], ...INSTANCES.map((k) => [`postgres+redis, ${k} instance${k > 1 ? 's' : ''}`, k, true])] as [string, number, boolean][]) {
  process.stdout.write(`… ${label}\n`);
  const c = await start(label, n, postgres);
  try {
    const cpu0 = c.procs.reduce((a, p) => a + cpuMs(p), 0);
    const done0 = await completed(c);
    const e = await endToEnd(c);
    const d = await drain(c);
    const cpu = c.procs.reduce((a, p) => a + cpuMs(p), 0) - cpu0;
    const done = (await completed(c)) - done0;
    rows.push([label, f(e.rps), `p50 ${f(e.p50, 1)} ms, p99 ${f(e.p99, 1)} ms, errors ${e.errors}`, f(d.rate), f(d.enqueueRate), f((cpu / done) * 1000)]);
    if (e.errors) {
      // What the instances warned of (they log at warn and above here).
      c.procs.forEach((p, i) => {
        const lines = p.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(0, 10);
        if (lines.length) errorSamples.push(`${label}, instance ${i + 1} logged:\n${lines.map((l) => `    ${l.slice(0, 400)}`).join('\n')}`);
      });
    }
  } finally {
    await c.stop();
  }
}
const head = ['backend', 'e2e req/s', `e2e latency (concurrency ${CONCURRENCY})`, `drain req/s (${f(DRAIN_N)})`, 'enqueue req/s', 'CPU ms / 1,000 req'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
process.stdout.write(`\nAllot scaled out (no-op HTTP worker on loopback; ${SECONDS} s end to end; CPU = Allot processes only)\n`);
for (const r of [head, ...rows]) process.stdout.write(`  ${r.map((x, i) => (i === 0 || i === 2 ? x.padEnd(widths[i] as number) : x.padStart(widths[i] as number))).join('  ')}\n`);
if (errorSamples.length) process.stdout.write(`\nFirst errors (end to end):\n${errorSamples.map((e) => `  ${e}\n`).join('')}`);
