/**
 * This instance's place among the others sharing its database. Alone
 * (SQLite): a local bus and always the leader. Scaled out (PostgreSQL): a
 * LISTEN/NOTIFY bus, a heartbeat, and the scheduler's election; see
 * leader.ts for why a lease row and not an advisory lock.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ScaleOutConfig } from '../config/scale-out.ts';
import { LocalBus, type ClusterBus } from './bus.ts';
import { InstanceRegistry, type InstanceRow } from './instances.ts';
import { LeaderElection } from './leader.ts';
import { PgBus } from './pg-bus.ts';

export interface Cluster {
  /** This instance (also the lease owner of the requests it dispatches). */
  readonly id: string;
  readonly bus: ClusterBus;
  /** Several instances may share the work. */
  readonly shared: boolean;
  /** Called with true when this instance becomes the scheduler, false when it stops being it. */
  onLeadership(fn: (leading: boolean, term: number | null, reason: string) => void): void;
  readonly isLeader: boolean;
  /** Start heartbeats and the election (after the HTTP server listens, so `url` is known). */
  start(url: string | null): Promise<void>;
  /** Stop campaigning and hand the lease over (another instance takes over while this one drains). */
  resign(): Promise<void>;
  /** Stop heartbeats (what this instance still leases is then taken back by the leader) and close connections. */
  stop(): Promise<void>;
  /** The instances on this database, alive or lately gone (empty alone). */
  instances(): Promise<InstanceRow[]>;
  /** The URL of the instance that schedules now, as it registered it; null when none is known (or alone). */
  leaderUrl(): Promise<string | null>;
}

export function localCluster(): Cluster {
  const id = `allot-${randomUUID().slice(0, 8)}`;
  const fns: ((leading: boolean, term: number | null, reason: string) => void)[] = [];
  return {
    id, bus: new LocalBus(), shared: false, isLeader: true,
    onLeadership(fn) {
      fns.push(fn);
    },
    async start() {},
    async resign() {},
    async stop() {},
    async instances() {
      return [];
    },
    async leaderUrl() {
      return null;
    },
  };
}

export async function pgCluster(so: ScaleOutConfig, o: { version: string; onError: (err: unknown, what: string) => void }): Promise<Cluster> {
  const id = `allot-${randomUUID().slice(0, 8)}`;
  const connection: pg.ClientConfig = {
    connectionString: so.databaseUrl, application_name: `allot cluster ${id}`, connectionTimeoutMillis: 5_000,
    ...(so.databaseSchema ? { options: `-c search_path=${so.databaseSchema}` } : {}),
  };
  // Its own small pool: a busy store pool must not delay a lease renewal.
  const pool = new pg.Pool({ ...connection, max: 3 });
  pool.on('error', (err) => o.onError(err, 'cluster connection'));
  const bus = await PgBus.open({ connection, pool, channel: `allot_${so.databaseSchema ?? 'public'}`, self: id, pollMs: so.pollMs, onError: (err) => o.onError(err, 'cluster bus') });
  const election = new LeaderElection(pool, { id, leaseMs: so.leaderLeaseMs, intervalMs: so.heartbeatMs });
  election.on('error', (err) => o.onError(err, 'leader election'));
  const registry = new InstanceRegistry(pool, { id, version: o.version, ttlMs: so.leaderLeaseMs, intervalMs: so.heartbeatMs, onError: (err) => o.onError(err, 'heartbeat') });
  return {
    id, bus, shared: true,
    get isLeader() {
      return election.isLeader;
    },
    onLeadership(fn) {
      election.on('elected', (term) => fn(true, term, 'elected'));
      election.on('deposed', (reason) => fn(false, null, reason));
    },
    async start(url) {
      await registry.start(url);
      election.start();
    },
    async resign() {
      await election.stop();
    },
    async stop() {
      await election.stop();
      await registry.stop().catch((err: unknown) => o.onError(err, 'leaving the cluster'));
      await bus.close();
      await pool.end();
    },
    instances: () => registry.list(),
    async leaderUrl() {
      const r = await pool.query<{ url: string | null }>(
        `SELECT ci.url FROM cluster_leader cl JOIN cluster_instances ci ON ci.id = cl.holder WHERE cl.name = 'scheduler' AND cl.expires_at > now() AND ci.expires_at > now()`,
      );
      return r.rows[0]?.url ?? null;
    },
  };
}
