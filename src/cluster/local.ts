/**
 * What an Allot instance knows of the others sharing its database (the
 * Cluster), and the cluster of one: an instance alone (SQLite, or Workers'
 * single scheduler object), always the leader. The PostgreSQL cluster is in
 * cluster.ts; this file needs no database driver.
 */
import { randomUUID } from 'node:crypto';
import { LocalBus, type ClusterBus } from './bus.ts';
import type { InstanceRow } from './instances.ts';

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
