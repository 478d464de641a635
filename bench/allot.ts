/**
 * What bench/run.ts and bench/scale-out.ts share: starting Allot (one or
 * more instances, on a fresh SQLite file or a fresh PostgreSQL schema and
 * Redis prefix) with a no-op push worker and, if asked, pull workers; the
 * PostgreSQL and Redis they use; and reading a process's CPU time and peak
 * memory from /proc (Linux).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Client, ROOT, sleep, startProcess, tempDir, writeJson, type Proc } from '../test/helpers/proc.ts';

export const ADMIN = 'bench-admin-key-0123456789';
/** Whether the PostgreSQL URL was given (rather than the default below). */
export const PG_URL_SET = Boolean(process.env.ALLOT_BENCH_PG_URL ?? process.env.ALLOT_TEST_PG_URL);
export const PG_URL = process.env.ALLOT_BENCH_PG_URL ?? process.env.ALLOT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.ALLOT_BENCH_REDIS_URL ?? process.env.ALLOT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TICK = 100; // USER_HZ: /proc/<pid>/stat times are in ticks of 1/100 s on Linux

export type Backend = 'sqlite' | 'postgres';

/** CPU ms (user + system) of a process so far, from /proc. */
export function cpuMs(p: Proc): number {
  const stat = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
}

/** Peak resident memory of a process, MB (VmHWM). */
export function peakRssMb(p: Proc): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Requests COMPLETED so far (GET /status). */
export async function completedCount(admin: Client): Promise<number> {
  const s = await admin.request<{ requests: Record<string, number> }>('GET', '/status');
  return s.body.requests.COMPLETED ?? 0;
}

/** Why PostgreSQL (PG_URL) or Redis (REDIS_URL) cannot be used, or null if both answer. */
export async function postgresUnreachable(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    return `PostgreSQL at ${PG_URL}: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    return `Redis at ${REDIS_URL}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
  return null;
}

/** Drop a bench's PostgreSQL schema and its Redis keys (those under the prefix). */
async function dropPostgres(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${schema}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export interface AllotOptions {
  readonly backend: Backend;
  /** Allot processes sharing the database (PostgreSQL only; SQLite is one). @default 1 */
  readonly instances?: number;
  /** Allot's config file, given the push worker's URL. */
  readonly config: (workerUrl: string) => unknown;
  /** More environment for Allot (e.g. ALLOT_DB_SYNC). */
  readonly env?: Record<string, string>;
  /** The push worker, node arguments; it prints "listening on <url>". @default examples/noop/server.ts --port 0 */
  readonly worker?: string[];
  /** Pull workers to start once Allot listens, node arguments given the first instance's URL; each prints "pulling from". */
  readonly pullers?: (allotUrl: string) => string[][];
}

export interface Allot {
  readonly procs: Proc[];
  /** Where each instance listens, in order. */
  readonly urls: string[];
  /** The push worker. */
  readonly worker: Proc;
  readonly pullers: Proc[];
  /** Admin and client (enterprise, max_concurrent 10,000) of each instance, in order. */
  readonly admins: Client[];
  readonly clients: Client[];
  stop(): Promise<void>;
}

/**
 * Start Allot: the push worker, `instances` Allot processes (ALLOT_BENCH_PROFILE=<dir>: each writes a V8 CPU
 * profile there), the pull workers, and a client every instance knows; on PostgreSQL one instance leads before
 * this resolves. `stop` ends them all and drops the PostgreSQL schema and Redis keys.
 */
export async function startAllot(o: AllotOptions): Promise<Allot> {
  const dir = tempDir('allot-bench-');
  const started: Proc[] = [];
  const schema = `allot_bench_${randomBytes(4).toString('hex')}`;
  const postgres = o.backend === 'postgres';
  const admins: Client[] = [];
  const clients: Client[] = [];
  const stopAll = async (procs: Proc[], pullers: Proc[]): Promise<void> => {
    for (const c of [...admins, ...clients]) c.close();
    for (const p of pullers) await p.stop();
    for (const p of procs) await p.stop('SIGINT');
    for (const p of started) await p.stop();
    if (postgres) await dropPostgres(schema);
  };
  try {
    const worker = await startProcess(o.worker ?? [join(ROOT, 'examples/noop/server.ts'), '--port', '0'], { ready: /listening on (http:\/\/\S+)/ });
    started.push(worker);
    const workerUrl = /listening on (http:\/\/\S+)/.exec(worker.output())?.[1] as string;
    writeJson(join(dir, 'config.json'), o.config(workerUrl));
    const env: Record<string, string> = postgres
      ? { ALLOT_DATABASE_URL: PG_URL, ALLOT_DATABASE_SCHEMA: schema, ALLOT_REDIS_URL: REDIS_URL, ALLOT_REDIS_PREFIX: schema }
      : { ALLOT_DB: join(dir, 'allot.db') };
    const prof = process.env.ALLOT_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ALLOT_BENCH_PROFILE}`] : [];
    const n = o.instances ?? 1;
    const procs = await Promise.all(Array.from({ length: n }, async () => {
      const p = await startProcess([...prof, join(ROOT, 'src/main.ts')], {
        env: { ALLOT_PORT: '0', ALLOT_CONFIG: join(dir, 'config.json'), ALLOT_ADMIN_KEY: ADMIN, ALLOT_LOG_LEVEL: 'warn', ...o.env, ...env },
        ready: /Allot listening on (http:\/\/\S+)/,
      });
      started.push(p);
      return p;
    }));
    const urls = procs.map((p) => /Allot listening on (http:\/\/\S+)/.exec(p.output())?.[1] as string);
    const pullers: Proc[] = [];
    for (const args of o.pullers?.(urls[0] as string) ?? []) {
      const p = await startProcess(args, { ready: /pulling from/ });
      started.push(p);
      pullers.push(p);
    }
    admins.push(...urls.map((u) => new Client(u, ADMIN)));
    const r = await (admins[0] as Client).request<{ api_key: string }>('POST', '/admin/clients', { name: 'bench', tier: 'enterprise', max_concurrent: 10_000 });
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST /admin/clients answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    clients.push(...admins.map((a) => a.withKey(r.body.api_key)));
    // Every instance knows the client (admin changes reach the others within a poll interval), and one leads.
    for (const c of clients) while ((await c.request('GET', '/api/executions?limit=1')).status !== 200) await sleep(100);
    // Stopped in that order: pull workers, Allot, the push worker.
    started.length = 0;
    started.push(worker);
    return { procs, urls, worker, pullers, admins, clients, stop: () => stopAll(procs, pullers) };
  } catch (err) {
    await stopAll([], []).catch(() => {});
    throw err;
  }
}
