/**
 * One peer job queue through the same phases as Allot's bench, in this
 * process (a no-op handler beside the producer, as each peer's own
 * benchmarks run it):
 *  - enqueue `n` jobs (the peer's bulk add), then drain them with 50 at once;
 *  - end to end: 50 producers, each adds a job and waits for its handler to
 *    finish, for `seconds`;
 *  - pickup latency at `rate`/s: from add to the handler starting.
 * Prints one JSON line. Usage: node bench/peers/peer.ts <bullmq|graphile|graphile-batched|pgboss> --n=20000 --seconds=10 --rate=25
 * The database and Redis: ALLOT_BENCH_PG_URL / ALLOT_TEST_PG_URL, ALLOT_BENCH_REDIS_URL / ALLOT_TEST_REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import { percentile, sleep } from '../../test/helpers/proc.ts';

const kind = process.argv[2] ?? '';
const args = new Map(process.argv.slice(3).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const N = Number(args.get('n') ?? 20_000);
const SECONDS = Number(args.get('seconds') ?? 10);
const RATE = Number(args.get('rate') ?? 25);
const CONCURRENCY = 50;
const PG_URL = process.env.ALLOT_BENCH_PG_URL ?? process.env.ALLOT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = new URL(process.env.ALLOT_BENCH_REDIS_URL ?? process.env.ALLOT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
const tag = randomBytes(4).toString('hex');

/** What the handler does: note the job done, and wake whoever waits for it. */
const waiting = new Map<string, () => void>();
let handled = 0;
let onHandled: () => void = () => {};
const pickups: number[] = [];
function handle(data: { id?: string; t?: number } | undefined): void {
  handled++;
  if (data?.t !== undefined) pickups.push(performance.now() - data.t);
  if (data?.id) {
    waiting.get(data.id)?.();
    waiting.delete(data.id);
  }
  onHandled();
}

interface Peer {
  readonly config: string;
  /** Add jobs in bulk (as many per call as the peer takes). */
  addMany(count: number): Promise<void>;
  add(data: { id?: string; t?: number }): Promise<void>;
  /** Start taking jobs with CONCURRENCY at once. */
  startWorkers(): Promise<void>;
  stop(): Promise<void>;
}

async function bullmq(): Promise<Peer> {
  const { Queue, Worker } = await import('bullmq');
  const connection = { host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379), maxRetriesPerRequest: null };
  const name = `allot-bench-${tag}`;
  const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  let worker: InstanceType<typeof Worker> | undefined;
  return {
    config: `BullMQ ${(await import('bullmq/package.json', { with: { type: 'json' } })).default.version}, Redis at ${REDIS_URL.host}, concurrency ${CONCURRENCY}, removeOnComplete`,
    async addMany(count) {
      for (let i = 0; i < count; i += 1_000) await queue.addBulk(Array.from({ length: Math.min(1_000, count - i) }, () => ({ name: 'noop', data: {} })));
    },
    async add(data) {
      await queue.add('noop', data);
    },
    async startWorkers() {
      worker = new Worker(name, async (job) => handle(job.data as { id?: string; t?: number }), { connection, concurrency: CONCURRENCY });
      await worker.waitUntilReady();
    },
    async stop() {
      await worker?.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

async function graphile(batched: boolean): Promise<Peer> {
  const { Logger, makeWorkerUtils, run } = await import('graphile-worker');
  // Quiet: a line per job on stdout would cost it time it does not spend in production with logging off.
  const logger = new Logger(() => () => {});
  const schema = `gw_bench_${tag}`;
  const utils = await makeWorkerUtils({ connectionString: PG_URL, schema, logger });
  await utils.migrate();
  let runner: Awaited<ReturnType<typeof run>> | undefined;
  const version = (await import('graphile-worker/package.json', { with: { type: 'json' } })).default.version;
  return {
    config: `graphile-worker ${version}, PostgreSQL, concurrency ${CONCURRENCY}${batched ? ', localQueue.size 500, completeJobBatchDelay 0' : ''}`,
    async addMany(count) {
      for (let i = 0; i < count; i += 1_000) await utils.addJobs(Array.from({ length: Math.min(1_000, count - i) }, () => ({ identifier: 'noop', payload: {} })));
    },
    async add(data) {
      await utils.addJob('noop', data);
    },
    async startWorkers() {
      runner = await run({
        connectionString: PG_URL, schema, concurrency: CONCURRENCY, noHandleSignals: true, pollInterval: 1_000, logger,
        taskList: { noop: async (payload) => handle(payload as { id?: string; t?: number }) },
        ...(batched ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
      });
    },
    async stop() {
      await runner?.stop();
      await utils.withPgClient((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      await utils.release();
    },
  };
}

async function pgboss(): Promise<Peer> {
  const { default: PgBoss } = await import('pg-boss');
  const schema = `pgboss_bench_${tag}`;
  const boss = new PgBoss({ connectionString: PG_URL, schema });
  boss.on('error', () => {});
  await boss.start();
  const name = 'noop';
  await boss.createQueue(name);
  const version = (await import('pg-boss/package.json', { with: { type: 'json' } })).default.version;
  return {
    config: `pg-boss ${version}, PostgreSQL, batchSize 500, pollingIntervalSeconds 0.5 (its minimum)`,
    async addMany(count) {
      for (let i = 0; i < count; i += 1_000) await boss.insert(Array.from({ length: Math.min(1_000, count - i) }, () => ({ name, data: {} })));
    },
    async add(data) {
      await boss.send(name, data);
    },
    async startWorkers() {
      // A batch of 500 per fetch: it waits a polling interval between fetches, so its drain is batchSize / 0.5 s.
      await boss.work(name, { batchSize: 500, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        for (const j of jobs) handle(j.data as { id?: string; t?: number });
      });
    },
    async stop() {
      await boss.stop({ graceful: false, wait: true });
      const pg = await import('pg');
      const c = new pg.default.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

const make: Record<string, () => Promise<Peer>> = { bullmq, graphile: () => graphile(false), 'graphile-batched': () => graphile(true), pgboss };
if (!make[kind]) throw new Error(`peer must be one of ${Object.keys(make).join(', ')}, got "${kind}"`);
const peer = await (make[kind] as () => Promise<Peer>)();
const cpu0 = process.cpuUsage();

// 1. Enqueue N, then drain them.
let t = performance.now();
await peer.addMany(N);
const enqueue = N / ((performance.now() - t) / 1000);
const drained = new Promise<void>((resolve) => {
  onHandled = () => {
    if (handled >= N) resolve();
  };
});
t = performance.now();
await peer.startWorkers();
await drained;
const drain = N / ((performance.now() - t) / 1000);
const cpu = process.cpuUsage(cpu0);
const cpuMsPer1k = ((cpu.user + cpu.system) / 1000 / N) * 1000;
onHandled = () => {};

// 2. End to end: 50 producers, each waits for its job's handler.
const lat: number[] = [];
const end = performance.now() + SECONDS * 1000;
let seq = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (performance.now() < end) {
    const id = `${tag}-${seq++}`;
    const t0 = performance.now();
    const done = new Promise<void>((r) => waiting.set(id, r));
    await peer.add({ id });
    await done;
    lat.push(performance.now() - t0);
  }
}));
lat.sort((a, b) => a - b);
const e2e = lat.length / SECONDS;

// 3. Pickup latency at RATE/s.
pickups.length = 0;
const interval = 1000 / RATE;
const t3 = performance.now();
let sent = 0;
while (performance.now() - t3 < SECONDS * 1000) {
  const due = Math.floor((performance.now() - t3) / interval);
  while (sent < due) {
    sent++;
    void peer.add({ t: performance.now() });
  }
  await sleep(1);
}
await sleep(1_500);
pickups.sort((a, b) => a - b);

await peer.stop();
process.stdout.write(`${JSON.stringify({
  peer: kind, config: peer.config, n: N, enqueue, drain, cpuMsPer1k, e2e, e2eP50: percentile(lat, 0.5), e2eP99: percentile(lat, 0.99),
  pickupP50: percentile(pickups, 0.5), pickupP99: percentile(pickups, 0.99), pickups: pickups.length, peakRssMb: process.resourceUsage().maxRSS / 1024,
})}\n`);
process.exit(0);
