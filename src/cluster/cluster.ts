/**
 * This instance's place among the others sharing its database. Alone
 * (SQLite): a local bus and always the leader. Scaled out (PostgreSQL): a
 * LISTEN/NOTIFY bus, a heartbeat, and the scheduler's election; see
 * leader.ts for why a lease row and not an advisory lock.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ScaleOutConfig } from '../config/scale-out.ts';
import { InstanceRegistry } from './instances.ts';
import type { Cluster } from './local.ts';
import { LeaderElection } from './leader.ts';
import { PgBus } from './pg-bus.ts';

export { localCluster, type Cluster } from './local.ts';

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
